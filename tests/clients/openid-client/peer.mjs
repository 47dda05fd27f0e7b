// What every peer script shares: the packages, loaded from GATEHOUSE_NODE_MODULES (installed
// outside the repository by scripts/test-clients-npm), and the line protocol with the Rust test
// that runs the script. The script writes one JSON object per line on stdout:
//   {"ask": "...", ...}   a question for the person (the Rust test); the answer is one line on stdin
//   {"done": {...}}       the scenario's result, for the test's own checks
//   {"failed": {...}}     what went wrong (openid-client's message and code), then exit status 1
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { pathToFileURL } from 'node:url';

const modules = process.env.GATEHOUSE_NODE_MODULES;
if (!modules) {
  throw new Error('GATEHOUSE_NODE_MODULES is not set: run scripts/test-clients-npm');
}
// Resolve as if from a file beside that node_modules directory.
const require = createRequire(join(modules, '..', 'resolve-from-here.js'));

/** Import an installed package (ESM or CommonJS) by name. */
export async function load(name) {
  return import(pathToFileURL(require.resolve(name)).href);
}

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

function send(message) {
  process.stdout.write(JSON.stringify(message) + '\n');
}

/** Ask the person something and wait for the one-line answer. */
export async function ask(question, details) {
  send({ ask: question, ...details });
  const { value, done } = await answers.next();
  if (done) throw new Error(`stdin closed before the answer to "${question}"`);
  return value;
}

/** Fail with what the test should show: the message, and the OAuth error fields when present. */
export function fail(error, step) {
  send({
    failed: {
      step,
      name: error?.name,
      message: error?.message,
      code: error?.code,
      error: error?.error,
      error_description: error?.error_description,
      status: error?.status,
      cause: describe(error?.cause),
    },
  });
  process.exit(1);
}

function describe(cause) {
  if (cause === undefined) return undefined;
  if (cause instanceof Error) return cause.message;
  // openid-client puts the server's answer (a parsed body) here.
  try {
    return JSON.stringify(cause);
  } catch {
    return String(cause);
  }
}

/** Run `steps` (an async function taking a `step(name, fn)` helper) and report the result. */
export async function scenario(steps) {
  let current = 'start';
  const step = async (name, fn) => {
    current = name;
    return fn();
  };
  try {
    const result = await steps(step);
    send({ done: result ?? {} });
    process.exit(0);
  } catch (error) {
    fail(error, current);
  }
}

/** Throw unless `condition`. */
export function check(condition, message) {
  if (!condition) throw new Error(`check failed: ${message}`);
}

/** The scenario's input: one JSON object in GATEHOUSE_PEER_INPUT. */
export function input() {
  return JSON.parse(process.env.GATEHOUSE_PEER_INPUT ?? '{}');
}
