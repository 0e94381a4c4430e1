/** `gradbench run` and `gradbench start`. */

export async function runCommand(_argv: string[]): Promise<number> {
  throw new Error('not implemented');
}

export async function startCommand(_argv: string[]): Promise<number> {
  throw new Error('not implemented');
}
