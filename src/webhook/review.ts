// The ConversionReview (apiextensions.k8s.io/v1) handler: pure, so it is tested without a
// server. A request it cannot use gets a `Failed` result the API server reports to the
// client, never an exception: one bad object must not take the webhook down.
import { convertPolicy } from '../crd/version-conversion.ts';

export interface ReviewAnswer {
  /** HTTP status: 200 for any review the API server sent (its result says Failed), 400 for what is not one. */
  status: number;
  /** Why the result says Failure: not a usable review, or an object that would not convert. */
  failure?: 'malformed' | 'conversion';
  /** One entry per object converted (none on a failure), by version: what the metrics count. */
  conversions: Array<{ from: string; to: string }>;
  body: {
    apiVersion: 'apiextensions.k8s.io/v1';
    kind: 'ConversionReview';
    response: {
      uid: string;
      convertedObjects?: unknown[];
      result: { status: 'Success' | 'Failure'; message?: string };
    };
  };
}

function answer(
  status: number,
  uid: string,
  result: ReviewAnswer['body']['response']['result'],
  objects?: unknown[],
): ReviewAnswer {
  return {
    status,
    conversions: [],
    body: {
      apiVersion: 'apiextensions.k8s.io/v1' as const,
      kind: 'ConversionReview' as const,
      response: { uid, ...(objects ? { convertedObjects: objects } : {}), result },
    },
  };
}

function failed(
  status: number,
  uid: string,
  failure: ReviewAnswer['failure'],
  message: string,
): ReviewAnswer {
  return { ...answer(status, uid, { status: 'Failure', message }), failure };
}

/** The version part of an object's apiVersion (`v1alpha1` of `tidemark.dev/v1alpha1`). */
function versionOf(apiVersion: unknown): string {
  return typeof apiVersion === 'string' ? (apiVersion.split('/').pop() ?? apiVersion) : 'unknown';
}

/** Answers one ConversionReview, given as the request body's text. */
export function handleConversionReview(text: string): ReviewAnswer {
  let review: unknown;
  try {
    review = JSON.parse(text);
  } catch (err) {
    return failed(400, '', 'malformed', `request is not JSON: ${(err as Error).message}`);
  }
  const request = (review as { request?: unknown } | null)?.request as
    | { uid?: unknown; desiredAPIVersion?: unknown; objects?: unknown }
    | undefined;
  const kind = (review as { kind?: unknown } | null)?.kind;
  if (kind !== 'ConversionReview' || typeof request !== 'object' || request === null) {
    return failed(400, '', 'malformed', 'not a ConversionReview with a request');
  }
  const uid = typeof request.uid === 'string' ? request.uid : '';
  if (typeof request.desiredAPIVersion !== 'string' || !Array.isArray(request.objects)) {
    return failed(200, uid, 'malformed', 'request needs desiredAPIVersion and objects');
  }
  const desired = request.desiredAPIVersion;
  try {
    const converted = request.objects.map((o) => convertPolicy(o, desired));
    const to = versionOf(desired);
    const conversions = request.objects.map((o) => ({
      from: versionOf((o as { apiVersion?: unknown } | null)?.apiVersion),
      to,
    }));
    return { ...answer(200, uid, { status: 'Success' }, converted), conversions };
  } catch (err) {
    return failed(200, uid, 'conversion', (err as Error).message);
  }
}
