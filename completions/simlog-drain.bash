# bash completion for simlog-drain(1)

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

# Schema names: NAME.schema files in $SIMLOG_SCHEMA_PATH's directories
# and in the installed schema directory beside the tool's bin directory.
_simlog_schema_names()
{
	local dir dirs=() exe f
	IFS=: read -r -a dirs <<< "${SIMLOG_SCHEMA_PATH-}"
	exe=$(type -P simlog-drain) &&
		dirs+=("${exe%/*}/../share/simlog/schemas")
	for dir in "${dirs[@]}"; do
		[[ -n $dir && -d $dir ]] || continue
		for f in "$dir"/*.schema; do
			[[ -f $f ]] || continue
			f=${f##*/}
			printf '%s\n' "${f%.schema}"
		done
	done | sort -u
}

_simlog_drain()
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
	-d | --db)
		# An SQLite file, or a PostgreSQL URI.
		if [[ $cur == postgres* ]]; then
			COMPREPLY=($(compgen -W 'postgresql:// postgres://' -- "$cur"))
			compopt -o nospace
			__ltrim_colon_completions "$cur"
		else
			_filedir
		fi
		return
		;;
	--corrupt)
		COMPREPLY=($(compgen -W 'list export purge' -- "$cur"))
		return
		;;
	--schema)
		# The name of an installed schema, or a schema file.
		_filedir schema
		COMPREPLY+=($(compgen -W "$(_simlog_schema_names)" -- "$cur"))
		return
		;;
	-s | --sim)
		COMPREPLY=($(compgen -W "$(_simlog_buffered_sims)" -- "$cur"))
		return
		;;
	--timeout | --batch | --busy-timeout | --keep-batches | --commit-interval | \
	--shard)
		# Numbers.
		return
		;;
	-h | --help | -V | --version)
		return
		;;
	esac
	$split && return

	# simlog-drain takes no operands, only options.
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
		--shard
		-d --db
		--schema
		--batch
		-f --follow
		--commit-interval
		--busy-timeout
		--keep-batches
		-q --quiet
		--progress
		--corrupt
		--discard
		-h --help
		-V --version
	' -- "$cur"))
} &&
	complete -F _simlog_drain simlog-drain
