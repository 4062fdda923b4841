// The local broker judges a subscriber's answer as Knative's broker filter does
// (knative.dev/eventing pkg/broker/filter/filter_handler.go): a 2xx answer is empty or a CloudEvent
// (re-ingested as a reply); a non-empty answer that is not one fails with 502, is retried with the
// delivery spec and then dead-lettered.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import http from 'node:http';
import { CloudEvent, HTTP } from 'cloudevents';
import {
  Broker,
  filterVerdict,
  type DeliveryRecord,
} from '../../../local-cluster/runtime/eventing/broker.ts';

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

const reply = new CloudEvent({ type: 'test.reply', source: 'subscriber', id: 'reply-1', data: { ok: true } });
const binaryReply = HTTP.binary(reply);
const structuredReply = HTTP.structured(reply);

// What each subscriber path answers.
const ANSWERS: Record<string, Answer> = {
  '/json-object': {
    status: 200,
    headers: { 'content-type': 'application/json; charset=utf-8' },
    body: '{"statusCode":200}',
  },
  '/empty-200': { status: 200, headers: { 'content-type': 'application/json' }, body: '' },
  '/no-content': { status: 204 },
  '/binary-reply': {
    status: 200,
    headers: binaryReply.headers as Record<string, string>,
    body: binaryReply.body as string,
  },
  '/structured-reply': {
    status: 200,
    headers: structuredReply.headers as Record<string, string>,
    body: structuredReply.body as string,
  },
  '/malformed-reply': { status: 200, headers: { 'ce-specversion': '1.0', 'ce-type': 'x' }, body: '{}' },
  '/error-with-body': { status: 500, headers: { 'content-type': 'text/plain' }, body: 'boom' },
};

let server: http.Server;
let base = '';
const deadLetters: { path: string; headers: http.IncomingHttpHeaders }[] = [];
const received: Record<string, number> = {};

before(async () => {
  server = http.createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      const path = req.url ?? '/';
      received[path] = (received[path] ?? 0) + 1;
      if (path === '/dead-letter') {
        deadLetters.push({ path, headers: req.headers });
        // Knative's dispatcher judges the dead letter sink's answer by its status alone
        // (pkg/kncloudevents/event_dispatcher.go executeRequest): a body does not fail it.
        res.writeHead(200, { 'content-type': 'application/json' }).end('{"statusCode":200}');
        return;
      }
      const answer = ANSWERS[path] ?? { status: 202 };
      res.writeHead(answer.status, answer.headers ?? {}).end(answer.body ?? '');
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
});
after(() => server.close());

async function deliverTo(path: string): Promise<DeliveryRecord[]> {
  const records: DeliveryRecord[] = [];
  const broker = new Broker({
    namespace: 'ns',
    name: 'broker',
    delivery: { retry: 2, backoffDelay: 'PT0.01S', deadLetterSink: { uri: `${base}/dead-letter` } },
    resolve: async (d) => d.uri!,
    onDelivery: (r) => records.push(r),
  });
  broker.setTriggers([
    {
      namespace: 'ns',
      name: 'subscriber',
      filter: { filter: { attributes: { type: 'test.event' } } },
      subscriber: { uri: `${base}${path}` },
    },
    {
      namespace: 'ns',
      name: 'replies',
      filter: { filter: { attributes: { type: 'test.reply' } } },
      subscriber: { uri: `${base}/replies` },
    },
  ]);
  broker.publish(new CloudEvent({ type: 'test.event', source: 'test', id: `to-${path}`, data: { a: 1 } }));
  await broker.drain();
  broker.close();
  return records;
}

const outcomes = (records: DeliveryRecord[], trigger = 'ns/subscriber') =>
  records.filter((r) => r.trigger === trigger).map((r) => `${r.outcome}:${r.status ?? ''}`);

test('a 2xx answer with a body that is not a CloudEvent is a 502: retried, then dead-lettered', async () => {
  const records = await deliverTo('/json-object');
  assert.deepEqual(outcomes(records), ['retrying:502', 'retrying:502', 'failed:502', 'dead-lettered:502']);
  assert.equal(received['/json-object'], 3, 'the first attempt and two retries');
  assert.match(records[0]!.error ?? '', /non-empty response not recognized as CloudEvent/);
  const dead = deadLetters.find((d) => d.headers['ce-id'] === 'to-/json-object');
  assert.ok(dead, 'the event reached the dead letter sink');
  assert.equal(dead.headers['ce-knativeerrorcode'], '502');
  assert.equal(dead.headers['ce-knativeerrordata'], undefined, "the filter's 502 has no body");
});

test('an empty 2xx answer is delivered, whatever its content type', async () => {
  assert.deepEqual(outcomes(await deliverTo('/empty-200')), ['delivered:200']);
  assert.deepEqual(outcomes(await deliverTo('/no-content')), ['delivered:204']);
});

test('a CloudEvent answer, binary or structured, is delivered and its reply re-ingested', async () => {
  for (const path of ['/binary-reply', '/structured-reply']) {
    const before = received['/replies'] ?? 0;
    const records = await deliverTo(path);
    assert.deepEqual(outcomes(records), ['delivered:200'], path);
    assert.deepEqual(outcomes(records, 'ns/replies'), ['delivered:202'], `${path}: the reply was published`);
    assert.equal(received['/replies'], before + 1);
  }
});

test('a malformed CloudEvent answer is a 502', async () => {
  const records = await deliverTo('/malformed-reply');
  assert.deepEqual(outcomes(records), ['retrying:502', 'retrying:502', 'failed:502', 'dead-lettered:502']);
});

test('a non-2xx answer keeps its status and its body goes to the dead letter sink', async () => {
  const records = await deliverTo('/error-with-body');
  assert.deepEqual(outcomes(records), ['retrying:500', 'retrying:500', 'failed:500', 'dead-lettered:500']);
  const dead = deadLetters.find((d) => d.headers['ce-id'] === 'to-/error-with-body');
  assert.equal(Buffer.from(String(dead?.headers['ce-knativeerrordata']), 'base64').toString(), 'boom');
});

test('filterVerdict follows the encodings sdk-go recognises', () => {
  const body = Buffer.from('{"x":1}');
  // a content type that only looks like a CloudEvents format is not one; nor is an unknown version
  assert.equal(
    filterVerdict(200, { 'content-type': 'application/cloudevents-batch+json' }, body).status,
    502,
  );
  assert.equal(filterVerdict(200, { 'ce-specversion': '2.0', 'ce-id': 'a' }, body).status, 502);
  assert.equal(filterVerdict(202, { 'content-type': 'text/plain' }, Buffer.alloc(0)).status, 202);
  assert.equal(filterVerdict(404, { 'content-type': 'text/plain' }, body).status, 404);
});
