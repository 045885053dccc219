// Registers the OpenTelemetry SDK before redispatch starts and prints every span to stdout.
// Use: NODE_OPTIONS="--import ./docs/examples/tracing-preload.mjs" npx redispatch <command>
// In production, export to a collector instead (e.g. @opentelemetry/exporter-trace-otlp-http).
import { context, trace } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';
import { BasicTracerProvider, ConsoleSpanExporter, SimpleSpanProcessor } from '@opentelemetry/sdk-trace-base';

context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
trace.setGlobalTracerProvider(
  new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(new ConsoleSpanExporter())] }),
);
