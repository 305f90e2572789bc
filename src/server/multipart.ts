/** The first file of a multipart/form-data body (what `curl -F image=@photo.jpg` sends). */

export class MultipartError extends Error {}

/** Boundary from a Content-Type header, or null when it is not multipart/form-data. */
export function multipartBoundary(contentType: string | undefined): string | null {
  if (!contentType || !/^multipart\/form-data/i.test(contentType)) return null;
  const m = /boundary=(?:"([^"]+)"|([^;\s]+))/i.exec(contentType);
  if (!m) throw new MultipartError('multipart/form-data without a boundary');
  return m[1] ?? m[2];
}

/** The body of the first part that carries a filename (else the first part). */
export function firstFilePart(body: Buffer, boundary: string): { name: string | null; filename: string | null; contentType: string | null; data: Buffer } {
  const delim = Buffer.from(`--${boundary}`);
  const parts: { head: string; data: Buffer }[] = [];
  let pos = body.indexOf(delim);
  if (pos < 0) throw new MultipartError('multipart body does not contain its boundary');
  while (pos >= 0) {
    let start = pos + delim.length;
    if (body[start] === 0x2d && body[start + 1] === 0x2d) break; // closing "--boundary--"
    if (body[start] === 0x0d && body[start + 1] === 0x0a) start += 2;
    const headEnd = body.indexOf('\r\n\r\n', start);
    if (headEnd < 0) throw new MultipartError('malformed multipart part (no header end)');
    const next = body.indexOf(delim, headEnd + 4);
    if (next < 0) throw new MultipartError('multipart body is truncated (no closing boundary)');
    // the part's data ends with CRLF before the next delimiter
    let end = next;
    if (body[end - 2] === 0x0d && body[end - 1] === 0x0a) end -= 2;
    parts.push({ head: body.subarray(start, headEnd).toString('utf8'), data: body.subarray(headEnd + 4, end) });
    pos = next;
  }
  if (parts.length === 0) throw new MultipartError('multipart body has no parts');
  const parsed = parts.map((p) => {
    const disp = /content-disposition:([^\r\n]*)/i.exec(p.head)?.[1] ?? '';
    return {
      name: /\bname="([^"]*)"/i.exec(disp)?.[1] ?? null,
      filename: /\bfilename="([^"]*)"/i.exec(disp)?.[1] ?? null,
      contentType: /content-type:\s*([^\r\n]*)/i.exec(p.head)?.[1].trim() ?? null,
      data: p.data,
    };
  });
  return parsed.find((p) => p.filename !== null) ?? parsed[0];
}
