#!/bin/sh
# make demo: a throwaway redis-server, a sample simulation piped through
# simlog-push, simlog-drain into SQLite, and a few queries over what landed.
set -eu
export LC_ALL=C
O=${O:-build/std}
top=$(pwd)
bin=$top/$O/bin
dir=$(mktemp -d "${TMPDIR:-/tmp}/simlog-demo.XXXXXX")
pid=
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

step() { printf '\n== %s\n' "$*"; }

step "starting a private redis-server on $dir/redis.sock"
redis-server --port 0 --unixsocket "$dir/redis.sock" --unixsocketperm 700 \
	--dir "$dir" --save '' --appendonly no --logfile "$dir/redis.log" \
	--maxmemory-policy noeviction &
pid=$!
i=0
until redis-cli -s "$dir/redis.sock" ping >/dev/null 2>&1; do
	i=$((i + 1))
	[ $i -lt 100 ] || { echo "demo: redis-server did not start" >&2; exit 69; }
	sleep 0.05
done
export SIMLOG_REDIS_URL="unix://$dir/redis.sock"
# The spool and the circuit breaker's state would otherwise outlive the
# demo, in the user's home and runtime directories.
export SIMLOG_SPOOL_DIR="$dir/spool" SIMLOG_BREAKER_DIR="$dir/breaker"

step "a sample simulation: 50000 AgentFarm-style records, two runs"
"$top/bench/simgen" -n 3 -s 1 | sed 's/^/   /'
echo "   ..."

step "simulation | simlog-push -s run1    (and run2)"
"$top/bench/simgen" -n 30000 -s 1 | "$bin/simlog-push" -s run1
"$top/bench/simgen" -n 20000 -s 2 | "$bin/simlog-push" -s run2

step "what waits in Redis (keys and the per-type backlog of run1)"
redis-cli -s "$dir/redis.sock" --scan --pattern 'simlog:*' | sort | sed 's/^/   /'
redis-cli -s "$dir/redis.sock" hgetall 'simlog:{run1}:n' | paste - - | sed 's/^/   /'
echo "   used_memory: $(redis-cli -s "$dir/redis.sock" info memory |
	sed -n 's/^used_memory_human:\(.*\)\r$/\1/p')"

step "simlog-drain -d $dir/results.db"
"$bin/simlog-drain" -q -d "$dir/results.db"

step "what landed in SQLite"
sqlite3 -header -column "$dir/results.db" "
SELECT 'agent' AS tbl, count(*) AS rows FROM agent
UNION ALL SELECT 'action', count(*) FROM action
UNION ALL SELECT 'agent_state', count(*) FROM agent_state
UNION ALL SELECT 'step', count(*) FROM step
UNION ALL SELECT 'resource_state', count(*) FROM resource_state
UNION ALL SELECT 'health_incident', count(*) FROM health_incident;"

step "actions per type and their mean reward, per simulation"
sqlite3 -header -column "$dir/results.db" "
SELECT simulation_id AS sim, data->>'action_type' AS action_type,
       count(*) AS n, round(avg(data->>'reward'), 3) AS mean_reward
FROM action GROUP BY 1, 2 ORDER BY 1, 3 DESC LIMIT 8;"

step "the last three steps of run1"
sqlite3 -header -column "$dir/results.db" "
SELECT data->>'step_number' AS step, data->>'total_agents' AS agents,
       round(data->>'total_resources', 1) AS resources
FROM step WHERE simulation_id = 'run1'
ORDER BY data->>'step_number' DESC LIMIT 3;"

step "Redis after the drain (no simlog keys left)"
left=$(redis-cli -s "$dir/redis.sock" --scan --pattern 'simlog:*' | wc -l)
echo "   $left simlog keys"
echo
echo "demo done; everything it made is removed on exit."
