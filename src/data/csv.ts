/**
 * Minimal RFC 4180 CSV parsing with line numbers, for label files and manifests.
 * Quoted fields may hold commas, doubled quotes ("") and newlines.
 */

export interface CsvRow {
  /** 1-based line number where the row starts. */
  line: number;
  fields: string[];
}

/**
 * Parse CSV text into rows. Blank lines are skipped. A BOM is removed.
 * Throws `${file}:${line}: ...` for an unterminated quote or stray text after a closing quote.
 */
export function parseCsv(text: string, file = '<csv>'): CsvRow[] {
  if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
  const rows: CsvRow[] = [];
  const n = text.length;
  let i = 0;
  let line = 1;
  while (i < n) {
    const startLine = line;
    const fields: string[] = [];
    let field = '';
    let blank = true;
    // parse one record
    for (;;) {
      if (i >= n) {
        fields.push(field);
        break;
      }
      let c = text[i];
      if (c === '"' && field.trim().length === 0) {
        blank = false;
        field = '';
        // quoted field
        const quoteLine = line;
        i++;
        let closed = false;
        while (i < n) {
          c = text[i];
          if (c === '"') {
            if (text[i + 1] === '"') {
              field += '"';
              i += 2;
              continue;
            }
            i++;
            closed = true;
            break;
          }
          if (c === '\n') line++;
          field += c;
          i++;
        }
        if (!closed) throw new Error(`${file}:${quoteLine}: unterminated quoted field`);
        // after a closing quote: separator, end of line or end of text (spaces tolerated)
        while (i < n && (text[i] === ' ' || text[i] === '\t')) i++;
        if (i < n && text[i] !== ',' && text[i] !== '\n' && text[i] !== '\r') {
          // a quote left open takes in the following lines up to the next quote, which it takes for its
          // closing one: the line to fix is where the field opened
          throw new Error(
            line > quoteLine
              ? `${file}:${quoteLine}: unterminated quoted field (the quote opened here is closed only on line ${line}, followed by more text)`
              : `${file}:${line}: unexpected text after closing quote`,
          );
        }
        continue;
      }
      if (c === ',') {
        blank = false;
        fields.push(field);
        field = '';
        i++;
        continue;
      }
      if (c === '\r' || c === '\n') {
        fields.push(field);
        if (c === '\r' && text[i + 1] === '\n') i++;
        i++;
        line++;
        break;
      }
      if (c !== ' ' && c !== '\t') blank = false;
      field += c;
      i++;
    }
    if (blank && fields.length === 1 && fields[0].trim() === '') continue;
    rows.push({ line: startLine, fields });
  }
  return rows;
}
