# bash completion for simlog-pool-stats(1)

_simlog_pool_stats()
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
	--spool)
		_filedir -d
		return
		;;
	-f | --format)
		COMPREPLY=($(compgen -W 'json table openmetrics' -- "$cur"))
		return
		;;
	--timeout | -w | --watch | -n | --count | --warn-at)
		# Numbers.
		return
		;;
	-h | --help | -V | --version)
		return
		;;
	esac
	$split && return

	# simlog-pool-stats takes no operands, only options.
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
		-w --watch
		-n --count
		--warn-at
		-f --format
		--spool
		-h --help
		-V --version
	' -- "$cur"))
} &&
	complete -F _simlog_pool_stats simlog-pool-stats
