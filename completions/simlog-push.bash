# bash completion for simlog-push(1)

_simlog_push()
{
	local cur prev words cword split
	_init_completion -s -n : || return

	case $prev in
	-u | --url)
		COMPREPLY=($(compgen -W 'redis:// unix://' -- "$cur"))
		[[ ${COMPREPLY-} == *// ]] && compopt -o nospace
		__ltrim_colon_completions "$cur"
		return
		;;
	--password-file | --reject)
		_filedir
		return
		;;
	-s | --sim | -t | --type | --type-field)
		# Names the user makes up: nothing to offer.
		return
		;;
	--timeout | --batch | --max-record | --inflight | --flush-interval)
		# Numbers.
		return
		;;
	-h | --help | -V | --version)
		return
		;;
	esac
	$split && return

	# simlog-push takes no operands, only options.
	COMPREPLY=($(compgen -W '
		-u --url
		--password-file
		--timeout
		-s --sim
		-t --type
		--type-field
		--tee
		--reject
		--batch
		--max-record
		--inflight
		--flush-interval
		-h --help
		-V --version
	' -- "$cur"))
} &&
	complete -F _simlog_push simlog-push
