/**
 * The service's entry point:
 *
 *   node backend/src/main.ts [--help]
 *
 * Two things come before any other module loads: the libuv thread pool's size (threadpool.ts),
 * and V8's compile cache (node:module enableCompileCache): a restart reuses the code compiled by
 * the last start instead of compiling every module again, about 0.2 s of a 0.5 s start (a restart
 * after kill -9 processes again that much sooner). NODE_COMPILE_CACHE names its folder (default:
 * node-compile-cache in the temporary folder); NODE_DISABLE_COMPILE_CACHE=1 turns it off. A
 * folder it cannot write costs nothing but the speed-up. The service itself is service.ts.
 *
 * Exit codes: 0 clean stop, 1 failure, 2 bad configuration or usage.
 */
import './threadpool.ts';
import { enableCompileCache } from 'node:module';

enableCompileCache();
await import('./service.ts');
