import { describeLabels, elideQuotedValues, formatLabels, MESSAGE_VALUE_CHARS } from '../../../lambdas/core/labels';

const long = 'é'.repeat(MESSAGE_VALUE_CHARS + 1);
const labels = [
  { name: '__name__', value: 'up' },
  { name: 'blob', value: long },
  { name: 'job', value: 'api' },
];

describe('label sets in messages', () => {
  it('formatLabels keeps every byte (it is also a map key)', () => {
    expect(formatLabels(labels)).toBe(`up{blob="${long}",job="api"}`);
  });

  it('describeLabels cuts a long value to its start, an ellipsis and its UTF-8 length', () => {
    const short = 'é'.repeat(MESSAGE_VALUE_CHARS);
    expect(describeLabels(labels)).toBe(`up{blob="${short}…" (${2 * (MESSAGE_VALUE_CHARS + 1)} bytes),job="api"}`);
  });

  it('elideQuotedValues does the same to text already formatted, escapes and all', () => {
    const text = `rejected ${formatLabels([{ name: 'q', value: `"${long}"` }])}: out of order`;
    expect(elideQuotedValues(text)).toBe(
      `rejected {q=${JSON.stringify(`"${long}`.slice(0, MESSAGE_VALUE_CHARS) + '…')} (${2 * (MESSAGE_VALUE_CHARS + 1) + 2} bytes)}: out of order`,
    );
    expect(elideQuotedValues(formatLabels(labels.slice(2)))).toBe('{job="api"}');
  });
});
