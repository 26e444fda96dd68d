# Sourced by the service's launchers (scripts/start.sh, scripts/stack.sh, deploy/entrypoint.sh):
# the memory defaults of the service process, measured in docs/benchmarks.md ("Memory settings").
#   MALLOC_ARENA_MAX=2            glibc keeps 2 malloc arenas instead of 8 per core (librdkafka's
#                                 and lmdb's threads each grew one)
#   --max-semi-space-size=8       V8's young generation at 8 MB per semi-space: garbage of the
#                                 hot path is collected sooner instead of growing the heap
# Together: peak RssAnon while 1,000,000 buffered events drain 479-528 MB -> 347-363 MB (two runs
# each). Neither caps the heap, so neither can make the process run out of memory. Both yield to
# the environment: set MALLOC_ARENA_MAX, or pass --max-semi-space-size in NODE_OPTIONS.
export MALLOC_ARENA_MAX="${MALLOC_ARENA_MAX:-2}"
SERVICE_NODE_FLAGS=()
case " ${NODE_OPTIONS:-} " in
  *--max-semi-space-size*) ;;
  *) SERVICE_NODE_FLAGS+=(--max-semi-space-size=8) ;;
esac
