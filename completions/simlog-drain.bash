# bash completion for simlog-drain(1)

_simlog_drain()
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
		# A schema file, or the name of an installed schema.
		_filedir schema
		return
		;;
	-s | --sim)
		# Simulation names live in Redis: nothing to offer offline.
		return
		;;
	--timeout | --batch | --busy-timeout | --keep-batches | --commit-interval)
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
		--timeout
		-s --sim
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
