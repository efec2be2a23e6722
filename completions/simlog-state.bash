# bash completion for simlog-state(1)

# The IDs in Redis, asked for with the connection options typed so far and
# a short timeout: completion must never hang on an unreachable server.
_simlog_state_ids()
{
	local i conn=()
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		case ${words[i]} in
		-u | --url | --password-file | --sentinel-password-file | \
		--tls-ca | --tls-cert | --tls-key | --tls-server-name)
			conn+=("${words[i]}" "${words[i + 1]}")
			;;
		--url=* | --password-file=* | --sentinel-password-file=* | \
		--tls-ca=* | --tls-cert=* | --tls-key=* | --tls-server-name=* | \
		--tls-no-verify)
			conn+=("${words[i]}")
			;;
		esac
	done
	simlog-state "${conn[@]}" --timeout 0.5 list 2>/dev/null |
		sed -n 's/^{"id":"\([^"]*\)".*/\1/p'
}

_simlog_state()
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
	--tls-key | -o | --output)
		_filedir
		return
		;;
	--tls-server-name)
		_known_hosts_real -- "$cur"
		return
		;;
	--compress)
		COMPREPLY=($(compgen -W 'lz4 zlib none' -- "$cur"))
		return
		;;
	--timeout | --ttl | --max-versions | --expect-version | --version | \
	--to | --keep | --wait-replicas)
		# Numbers.
		[[ $prev != --version ]] && return
		;;
	--tag | --match)
		# Names and patterns the user makes up: nothing to offer.
		return
		;;
	-h | --help | -V)
		return
		;;
	esac
	$split && return

	# The command: the first word that is not an option or its argument.
	local i cmd='' cmdat=0 nargs=0
	for ((i = 1; i < cword; i++)); do
		case ${words[i]} in
		-u | --url | --password-file | --sentinel-password-file | \
		--timeout | --tls-ca | --tls-cert | --tls-key | \
		--tls-server-name | --ttl | --tag | --compress | \
		--max-versions | --expect-version | --wait-replicas | \
		--version | --to | --keep | --match | -o | --output)
			# An option before the command cannot be --version N.
			[[ -z $cmd && ${words[i]} == --version ]] || ((i++))
			;;
		-*) ;;
		*)
			if [[ -z $cmd ]]; then
				cmd=${words[i]} cmdat=$i
			else
				((nargs++))
			fi
			;;
		esac
	done

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
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
				-h --help
				-V --version
			' -- "$cur"))
		else
			COMPREPLY=($(compgen -W 'save load versions meta list
				rollback delete prune stats' -- "$cur"))
		fi
		return
	fi

	local opts='--url --password-file --sentinel-password-file --timeout
		--tls-ca --tls-cert --tls-key --tls-server-name --tls-no-verify
		--help'
	case $cmd in
	save) opts+=' --ttl --tag --compress --max-versions --expect-version
		--raw --wait-replicas --batch' ;;
	load) opts+=' --version --batch -o --output' ;;
	meta | delete) opts+=' --version' ;;
	list) opts+=' --tag --match' ;;
	rollback) opts+=' --to' ;;
	prune) opts+=' --keep' ;;
	esac
	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$opts" -- "$cur"))
		return
	fi
	case $cmd in
	save | load | versions | meta | rollback | delete | prune)
		if ((nargs == 0)); then
			COMPREPLY=($(compgen -W "$(_simlog_state_ids)" -- "$cur"))
			__ltrim_colon_completions "$cur"
		fi
		;;
	esac
} &&
	complete -F _simlog_state simlog-state
