// Knative's rule for which answers its dispatcher retries (knative.dev/eventing
// pkg/kncloudevents/retries.go SelectiveRetry): no response, 5xx, 404, 408, 409 and 429; any other
// non-2xx goes to the dead letter sink at once. Tests hold the functions' error answers to it.
export function knativeRetries(status: number | undefined): boolean {
  if (status === undefined) return true;
  return status >= 500 || status === 404 || status === 408 || status === 409 || status === 429;
}
