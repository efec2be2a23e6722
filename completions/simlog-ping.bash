# bash completion for simlog-ping(1)

_simlog_ping()
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
	--password-file)
		_filedir
		return
		;;
	--timeout | -c | --count | -i | --interval | -w | --wait)
		# Numbers.
		return
		;;
	-h | --help | -V | --version)
		return
		;;
	esac
	$split && return

	# simlog-ping takes no operands, only options.
	COMPREPLY=($(compgen -W '
		-u --url
		--password-file
		--timeout
		-c --count
		-i --interval
		-w --wait
		--check
		--strict
		-h --help
		-V --version
	' -- "$cur"))
} &&
	complete -F _simlog_ping simlog-ping
