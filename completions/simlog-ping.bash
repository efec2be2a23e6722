# bash completion for simlog-ping(1)

_simlog_ping()
{
	local cur prev words cword split
	_init_completion -s -n : || return

	case $prev in
	-u | --url)
		COMPREPLY=($(compgen -W 'redis:// rediss:// unix://
			redis-cluster:// rediss-cluster://
			redis-sentinel:// rediss-sentinel://' -- "$cur"))
		[[ ${COMPREPLY-} == *// ]] && compopt -o nospace
		__ltrim_colon_completions "$cur"
		return
		;;
	--password-file | --sentinel-password-file | --tls-ca | --tls-cert | \
	--tls-key)
		_filedir
		return
		;;
	--tls-server-name)
		_known_hosts_real -- "$cur"
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
		--sentinel-password-file
		--timeout
		--tls-ca
		--tls-cert
		--tls-key
		--tls-server-name
		--tls-no-verify
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
