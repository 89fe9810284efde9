/** The absolute-IRI grammar of RFC 3987 §2.2, as a regular expression: what every RDF store must accept as an IRI. */

const UCSCHAR =
  '\\u{A0}-\\u{D7FF}\\u{F900}-\\u{FDCF}\\u{FDF0}-\\u{FFEF}' +
  '\\u{10000}-\\u{1FFFD}\\u{20000}-\\u{2FFFD}\\u{30000}-\\u{3FFFD}\\u{40000}-\\u{4FFFD}' +
  '\\u{50000}-\\u{5FFFD}\\u{60000}-\\u{6FFFD}\\u{70000}-\\u{7FFFD}\\u{80000}-\\u{8FFFD}' +
  '\\u{90000}-\\u{9FFFD}\\u{A0000}-\\u{AFFFD}\\u{B0000}-\\u{BFFFD}\\u{C0000}-\\u{CFFFD}' +
  '\\u{D0000}-\\u{DFFFD}\\u{E1000}-\\u{EFFFD}';
const IUNRESERVED = `A-Za-z0-9\\-._~${UCSCHAR}`;
const SUB_DELIMS = "!$&'()*+,;=";
const PCT = '%[0-9A-Fa-f]{2}';
/** One `ipchar`: iunreserved / pct-encoded / sub-delims / ":" / "@". */
const IPCHAR = `(?:[${IUNRESERVED}${SUB_DELIMS}:@]|${PCT})`;
const SCHEME = '[A-Za-z][A-Za-z0-9+\\-.]*';
const IUSERINFO = `(?:[${IUNRESERVED}${SUB_DELIMS}:]|${PCT})*`;
const DEC_OCTET = '(?:25[0-5]|2[0-4][0-9]|1[0-9]{2}|[1-9]?[0-9])';
const IPV4 = `${DEC_OCTET}(?:\\.${DEC_OCTET}){3}`;
const H16 = '[0-9A-Fa-f]{1,4}';
const LS32 = `(?:${H16}:${H16}|${IPV4})`;
const IPV6 =
  '(?:' +
  [
    `(?:${H16}:){6}${LS32}`,
    `::(?:${H16}:){5}${LS32}`,
    `(?:${H16})?::(?:${H16}:){4}${LS32}`,
    `(?:(?:${H16}:){0,1}${H16})?::(?:${H16}:){3}${LS32}`,
    `(?:(?:${H16}:){0,2}${H16})?::(?:${H16}:){2}${LS32}`,
    `(?:(?:${H16}:){0,3}${H16})?::${H16}:${LS32}`,
    `(?:(?:${H16}:){0,4}${H16})?::${LS32}`,
    `(?:(?:${H16}:){0,5}${H16})?::${H16}`,
    `(?:(?:${H16}:){0,6}${H16})?::`,
  ].join('|') +
  ')';
const IPVFUTURE = `v[0-9A-Fa-f]+\\.[A-Za-z0-9\\-._~${SUB_DELIMS}:]+`;
const IHOST = `(?:\\[(?:${IPV6}|${IPVFUTURE})\\]|(?:[${IUNRESERVED}${SUB_DELIMS}]|${PCT})*)`;
const IAUTHORITY = `(?:${IUSERINFO}@)?${IHOST}(?::[0-9]*)?`;
const ISEGMENT = `${IPCHAR}*`;
const IHIER_PART =
  `(?://${IAUTHORITY}(?:/${ISEGMENT})*` + // "//" iauthority ipath-abempty
  `|/(?:${IPCHAR}+(?:/${ISEGMENT})*)?` + // ipath-absolute
  `|${IPCHAR}+(?:/${ISEGMENT})*` + // ipath-rootless
  '|)'; // ipath-empty
// iquery may also hold iprivate (U+E000…) by the RFC; refused here too: stores differ on it
const IQUERY = `(?:${IPCHAR}|[/?])*`;
const IFRAGMENT = `(?:${IPCHAR}|[/?])*`;

const ABSOLUTE_IRI = new RegExp(`^${SCHEME}:${IHIER_PART}(?:\\?${IQUERY})?(?:#${IFRAGMENT})?$`, 'u');

/**
 * Whether `text` is an IRI by RFC 3987 §2.2 (scheme, hierarchical part, query, fragment), with
 * no private-use characters anywhere. Refuses what an RDF store would refuse later: controls
 * (U+0000–U+001F, U+007F–U+009F), space, `<>"{}|\^` and backquote, noncharacters (U+FDD0–U+FDEF,
 * U+FFFE, U+FFFF, …), private use (U+E000–U+F8FF, planes 15–16), lone surrogates (the `u` flag
 * matches code points; no class holds a surrogate) and `%` not followed by two hex digits.
 */
export function isRfc3987Iri(text: string): boolean {
  return ABSOLUTE_IRI.test(text);
}
