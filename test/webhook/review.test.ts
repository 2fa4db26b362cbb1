// The ConversionReview handler (issue 13, item 2): converts every object of a valid review,
// and answers a bad one with a Failure result (HTTP 400 when it is not a review at all),
// never with an exception.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { BETA_FIELDS_ANNOTATION, V1ALPHA1, V1BETA1 } from '../../src/crd/version-conversion.ts';
import { handleConversionReview } from '../../src/webhook/review.ts';

// biome-ignore lint/suspicious/noExplicitAny: JSON from the API server, checked field by field by the assertions
type Json = any;
const beta = {
  apiVersion: V1BETA1,
  kind: 'ScalingPolicy',
  metadata: { name: 'web', namespace: 'shop' },
  spec: { behavior: { tolerance: 0.1, scaleUp: { tolerance: 0 }, scaleDown: {} } },
};

function review(request: unknown): string {
  return JSON.stringify({ apiVersion: 'apiextensions.k8s.io/v1', kind: 'ConversionReview', request });
}

describe('ConversionReview handler', () => {
  it('converts every object to the desired version and echoes the uid', () => {
    const out = handleConversionReview(
      review({ uid: 'u-1', desiredAPIVersion: V1ALPHA1, objects: [beta, { ...beta, apiVersion: V1ALPHA1 }] }),
    );
    assert.equal(out.status, 200);
    assert.equal(out.body.kind, 'ConversionReview');
    assert.equal(out.body.response.uid, 'u-1');
    assert.deepEqual(out.body.response.result, { status: 'Success' });
    const [first, second] = out.body.response.convertedObjects as Json[];
    assert.equal(first!.apiVersion, V1ALPHA1);
    assert.deepEqual(first!.spec.behavior.scaleUp, {});
    assert.match(first!.metadata.annotations[BETA_FIELDS_ANNOTATION], /scaleUp\.tolerance/);
    assert.equal(second!.apiVersion, V1ALPHA1);
    const back = handleConversionReview(review({ uid: 'u-2', desiredAPIVersion: V1BETA1, objects: [first] }));
    assert.deepEqual(back.body.response.convertedObjects, [beta]);
  });

  it('reports each hidden value it dropped on the way to v1beta1, naming the object and why', () => {
    const first = handleConversionReview(
      review({ uid: 'u-6', desiredAPIVersion: V1ALPHA1, objects: [beta] }),
    );
    const alpha = structuredClone(first.body.response.convertedObjects![0] as Json);
    alpha.spec.behavior.tolerance = 0.3;
    const out = handleConversionReview(review({ uid: 'u-7', desiredAPIVersion: V1BETA1, objects: [alpha] }));
    assert.deepEqual(out.body.response.result, { status: 'Success' });
    assert.deepEqual((out.body.response.convertedObjects as Json[])[0].spec.behavior, {
      tolerance: 0.3,
      scaleUp: {},
      scaleDown: {},
    });
    assert.deepEqual(out.dropped, [
      'shop/web: spec.behavior.scaleUp.tolerance dropped: spec.behavior.tolerance was changed through v1alpha1 (0.1 → 0.3), and now applies to both directions',
    ]);
  });

  it('answers an unknown version with a Failure result for that uid', () => {
    const out = handleConversionReview(
      review({ uid: 'u-3', desiredAPIVersion: 'tidemark.dev/v9', objects: [beta] }),
    );
    assert.equal(out.status, 200);
    assert.equal(out.body.response.uid, 'u-3');
    assert.equal(out.body.response.result.status, 'Failure');
    assert.match(out.body.response.result.message ?? '', /v9/);
    assert.equal(out.body.response.convertedObjects, undefined);
  });

  it('answers a request without objects, a non-review and non-JSON with Failure, not an exception', () => {
    const noObjects = handleConversionReview(review({ uid: 'u-4', desiredAPIVersion: V1BETA1 }));
    assert.equal(noObjects.body.response.result.status, 'Failure');
    for (const text of [
      '{',
      'null',
      '[]',
      JSON.stringify({ kind: 'AdmissionReview', request: {} }),
      review(null),
    ]) {
      const out = handleConversionReview(text);
      assert.equal(out.status, 400, text);
      assert.equal(out.body.response.result.status, 'Failure', text);
    }
    const garbage = handleConversionReview(review({ uid: 'u-5', desiredAPIVersion: V1BETA1, objects: [42] }));
    assert.equal(garbage.body.response.result.status, 'Failure');
  });
});
