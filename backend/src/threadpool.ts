/**
 * Imported first by main.ts, before anything can start the libuv thread pool: the Kafka client
 * runs its blocking calls (commits, aborts, offset lookups, connects, closes) on that pool, and
 * with the default 4 threads a broker outage (every call waiting out its timeout, several flows)
 * starves it and stretches every deadline. UV_THREADPOOL_SIZE set by the user wins.
 */
process.env.UV_THREADPOOL_SIZE ??= '16';
