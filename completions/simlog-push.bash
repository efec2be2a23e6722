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
	--spool)
		_filedir -d
		return
		;;
	--priority)
		COMPREPLY=($(compgen -W 'critical normal low' -- "$cur"))
		return
		;;
	-s | --sim | -t | --type | --type-field)
		# Names the user makes up: nothing to offer.
		return
		;;
	--timeout | --batch | --max-record | --inflight | --flush-interval | \
	--deadline | --max-backlog | --spool-max | --retries | --retry-base | \
	--retry-factor | --retry-cap | --breaker-failures | --breaker-reset)
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
		--priority
		--deadline
		--max-backlog
		--spool
		--spool-max
		--replay
		--retries
		--retry-base
		--retry-factor
		--retry-cap
		--breaker-failures
		--breaker-reset
		-h --help
		-V --version
	' -- "$cur"))
} &&
	complete -F _simlog_push simlog-push
