# bash completion for simlog-push(1)

# Simulations with records buffered in Redis, asked for with the connection
# options typed so far and a short timeout: completion must never hang on
# an unreachable server.  (simlog-push's and simlog-drain's completions
# each define it, as bash-completion loads them one at a time.)
_simlog_buffered_sims()
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
	simlog-pool-stats "${conn[@]}" --timeout 0.5 --format openmetrics \
		2>/dev/null |
		sed -n 's/^simlog_backlog_records{sim="\([^"]*\)".*/\1/p' |
		sort -u
}

# The endpoints that have a spool (each spool directory's "endpoint" file),
# in the spool directory --spool names, else where simlog-push looks.
_simlog_push_spooled()
{
	local i dir=${SIMLOG_SPOOL_DIR-}
	for ((i = 1; i < ${#words[@]} - 1; i++)); do
		[[ ${words[i]} == --spool ]] && dir=${words[i + 1]}
		[[ ${words[i]} == --spool=* ]] && dir=${words[i]#--spool=}
	done
	if [[ -z $dir ]]; then
		if [[ ${XDG_STATE_HOME-} == /* ]]; then
			dir=$XDG_STATE_HOME/simlog/spool
		else
			dir=${HOME-}/.local/state/simlog/spool
		fi
	fi
	cat "$dir"/*/endpoint 2>/dev/null
}

_simlog_push()
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
	--tls-key | --reject)
		_filedir
		return
		;;
	--tls-server-name)
		_known_hosts_real -- "$cur"
		return
		;;
	--tee-error)
		COMPREPLY=($(compgen -W 'warn exit' -- "$cur"))
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
	--replay-from)
		COMPREPLY=($(compgen -W "all $(_simlog_push_spooled)" -- "$cur"))
		__ltrim_colon_completions "$cur"
		return
		;;
	-s | --sim)
		# A new name, or one that already has records waiting.
		COMPREPLY=($(compgen -W "$(_simlog_buffered_sims)" -- "$cur"))
		return
		;;
	-t | --type | --type-field | --sim-field)
		# Names the user makes up: nothing to offer.
		return
		;;
	--timeout | --batch | --max-record | --inflight | --flush-interval | \
	--deadline | --max-backlog | --wait-replicas | --spool-max | \
	--retries | --retry-base | --retry-factor | --retry-cap | \
	--breaker-failures | --breaker-reset)
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
		--sentinel-password-file
		--timeout
		--tls-ca
		--tls-cert
		--tls-key
		--tls-server-name
		--tls-no-verify
		-s --sim
		-t --type
		--type-field
		--sim-field
		--tee
		--tee-error
		--reject
		--batch
		--max-record
		--inflight
		--flush-interval
		-q --quiet
		--progress
		--priority
		--deadline
		--max-backlog
		--wait-replicas
		--spool
		--spool-max
		--replay
		--replay-from
		--spool-status
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
