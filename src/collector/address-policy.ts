// The Prometheus address allow-list (issue 7, security). A ScalingPolicy lets
// whoever may create one make the operator send HTTP requests, with whatever
// credentials the policy names, to the address it chooses; without an
// allow-list that is a server-side request forgery primitive inside the
// cluster. The rule, in full:
//
// 1. Every address (allow-list entries and policy addresses) is parsed with the
//    WHATWG URL parser, which normalises what an attacker could vary: scheme and
//    host case, default ports (`:80`, `:443`), IPv4 spellings (`2130706433`,
//    `0x7f.1` → `127.0.0.1`), IDN (→ punycode), dot segments (`/a/../b` → `/b`)
//    and backslashes.
// 2. Only `http:` and `https:` are accepted. Userinfo (`user:pass@`), a query
//    string or a fragment is rejected outright: credentials belong in the Secret,
//    and a base URL has no use for the others. Encoded slashes, backslashes and
//    encoded dots in the path are rejected, so no path can be read two ways.
// 3. An address is allowed when its origin (scheme, host, port) equals an
//    entry's origin exactly, and its path equals the entry's path or lies under
//    it at a segment boundary (`/prom` allows `/prom/x`, never `/prometheus`).
//    Trailing slashes do not matter.
// 4. An empty allow-list allows nothing.
//
// Host names are compared as names; the allow-list trusts DNS for the names it
// lists (a name that resolves somewhere else is out of its reach).

export type AddressCheck =
  | {
      ok: true /** Normalised base URL without a trailing slash: what the collector requests. */;
      baseUrl: string;
    }
  | { ok: false; reason: 'InvalidAddress' | 'AddressNotAllowed'; message: string };

interface ParsedAddress {
  origin: string;
  /** Path without trailing slashes; '' for the root. */
  path: string;
}

/** Why an address is unusable as a Prometheus base URL, or its normalised parts. */
function parseAddress(address: string): ParsedAddress | string {
  if (typeof address !== 'string' || address.length === 0) return 'address is empty';
  if (address.length > 2048) return 'address is longer than 2048 characters';
  // Whitespace and control characters would be silently stripped by the URL parser.
  // biome-ignore lint/suspicious/noControlCharactersInRegex: control characters are exactly what is rejected
  if (/[\s\u0000-\u001f\u007f\\]/.test(address))
    return 'address contains whitespace, a control character or a backslash';
  let url: URL;
  try {
    url = new URL(address);
  } catch {
    return 'address is not a valid URL';
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return 'address must use http or https';
  if (url.username !== '' || url.password !== '' || /^[a-z]+:\/\/[^/]*@/i.test(address)) {
    return 'address must not contain credentials (user:password@); use authSecretRef';
  }
  if (url.search !== '' || address.includes('?')) return 'address must not contain a query string';
  if (url.hash !== '' || address.includes('#')) return 'address must not contain a fragment';
  if (url.hostname === '') return 'address has no host';
  if (/%(2f|5c|2e)/i.test(address) || /%(2f|5c|2e)/i.test(url.pathname))
    return 'address path must not contain encoded slashes or dots';
  return { origin: `${url.protocol}//${url.host}`, path: url.pathname.replace(/\/+$/, '') };
}

export class AddressPolicy {
  readonly #entries: ParsedAddress[];

  /**
   * @param allowed base URLs (from the operator's flag or ConfigMap). An invalid entry
   * throws: a misconfigured operator should fail at start, not allow more than meant.
   */
  constructor(allowed: readonly string[]) {
    this.#entries = allowed.map((entry) => {
      const parsed = parseAddress(entry.trim());
      if (typeof parsed === 'string') throw new Error(`invalid Prometheus allow-list entry: ${parsed}`);
      return parsed;
    });
  }

  /** The normalised entries, for logging the operator's configuration at start. */
  get entries(): string[] {
    return this.#entries.map((e) => e.origin + e.path);
  }

  check(address: string): AddressCheck {
    const parsed = parseAddress(address);
    if (typeof parsed === 'string') return { ok: false, reason: 'InvalidAddress', message: parsed };
    const allowed = this.#entries.some(
      (e) =>
        e.origin === parsed.origin &&
        (e.path === '' || parsed.path === e.path || parsed.path.startsWith(`${e.path}/`)),
    );
    const baseUrl = parsed.origin + parsed.path;
    if (!allowed) {
      return {
        ok: false,
        reason: 'AddressNotAllowed',
        message: `Prometheus address ${baseUrl} is not on the operator's allow-list`,
      };
    }
    return { ok: true, baseUrl };
  }
}
