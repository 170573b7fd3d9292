/**
 * Not a module to import. tsconfig.core.json maps the Node-only packages here (ioredis,
 * prom-client, pino, @hono/node-server), so that importing one from the web-standard core fails
 * the build with an error naming this file (TS6307). Import them in an adapter instead:
 * src/node, src/redis or src/prometheus.
 */
export {};
