// The shape of every function's handle(), as faas-js-runtime serves it to the Knative broker.
//
// Success resolves to nothing. Knative's broker filter fails a 2xx reply whose body is neither
// empty nor a CloudEvent (knative.dev/eventing pkg/broker/filter/filter_handler.go, writeResponse:
// "received a non-empty response not recognized as CloudEvent", 502), so the broker retries the
// delivery and then dead-letters it. faas-js-runtime 4 (lib/invoker.js) answers a handler that
// returns nothing with 204 and an empty body, but serialises any object it gets back, even
// `{ statusCode: 200 }`, into a JSON body. None of our functions replies with an event.
//
// Failure throws. faas-js-runtime answers an error with its numeric `code` (the API server's
// status for an ApiException) and anything else with 500. The broker retries 404, 408, 409, 429
// and 5xx (a re-read, a busy or unreachable API server, an object not there yet) and sends any
// other status (403, 422: a retry cannot help) to the dead letter sink at once; the periodic
// resync brings the object back either way.
import type { CloudEvent } from 'cloudevents';
import type { Context } from 'faas-js-runtime';

export type FunctionHandler = (context: Context, event?: CloudEvent<unknown>) => Promise<void>;
