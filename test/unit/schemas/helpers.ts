/** Shared by the schema tests: the message of the error `run` throws, checked to be of `type`. */
export function messageOf(run: () => unknown, type: new (...args: never[]) => Error): string {
  try {
    run();
  } catch (err) {
    expect(err).toBeInstanceOf(type);
    return (err as Error).message;
  }
  throw new Error('accepted, expected a refusal');
}
