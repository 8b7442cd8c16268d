/**
 * Turns a resolved ASL definition into one aws-local-stepfunctions 3 can run, changing only
 * what it cannot run, each time by a local stand-in (docs/LOCAL.md lists them):
 *
 *  - A Distributed Map with an S3 ItemReader becomes
 *      `<Map>.ReadItems` (Task: loads the JSON array the ItemReader names into the state)
 *      → `<Map>` (inline Map over it)
 *      → `<Map>.DropItems` (Task: removes the loaded array again, so the Map's output is as on AWS),
 *    and every Catch of the Map goes through its own `<Map>.DropItems.CatchN`.
 *  - ProcessorConfig DISTRIBUTED → INLINE; ToleratedFailure*, Label and a ResultWriter (only
 *    when the Map discards its result, ResultPath null) are dropped.
 *  - A Fail state whose ErrorPath/CausePath is an intrinsic function gets a Pass state
 *    `<Fail>.Values` computing it first (the library reads those fields as plain paths).
 *  - Task states without TimeoutSeconds get their Lambda function's timeout (the library
 *    would otherwise stop them after 60 s; on AWS the function's own timeout bounds them).
 *
 * Anything else the library cannot run (Assign, JSONata, ItemBatcher, other item sources)
 * fails with an error naming the state, instead of running differently from AWS.
 */
import { InputError } from '../../lambdas/core/errors';
import type { Json } from './tokens';

type JsonObject = { [key: string]: Json };

export const READ_ITEMS_SUFFIX = '.ReadItems';
export const DROP_ITEMS_SUFFIX = '.DropItems';
export const FAIL_VALUES_SUFFIX = '.Values';
/** Resources of the inserted stand-in Tasks; the runner binds them by state name. */
export const READ_ITEMS_RESOURCE = 'arn:aws:states:::s3:getObject';
export const DROP_ITEMS_RESOURCE = 'arn:aws:states:::promvault-local:dropItems';
/** Timeout of the inserted stand-in Tasks. */
const STAND_IN_TIMEOUT_SECONDS = 300;

export type StandIn =
  | {
      readonly kind: 'readItems';
      /** The Map the items are for. */
      readonly map: string;
      /** ReaderConfig.MaxItems, when set. */
      readonly maxItems?: number;
    }
  | {
      readonly kind: 'dropItems';
      readonly map: string;
      /** Path segments of the field holding the loaded items, from the state root. */
      readonly field: readonly string[];
    };

export interface LocalDefinition {
  readonly definition: JsonObject;
  /** Inserted Task states by name. */
  readonly standIns: Readonly<Record<string, StandIn>>;
}

export interface LocalizeOptions {
  /** TimeoutSeconds for a Task whose definition has none, from its Resource (the Lambda's timeout). */
  readonly taskTimeoutSeconds?: (resource: string) => number | undefined;
}

/** A construct of the definition the local runner cannot run faithfully. */
export class UnsupportedStateError extends InputError {}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

/** JSONPath fields the library cannot evaluate (JSONata and variables). */
const UNSUPPORTED_FIELDS: Record<string, string> = {
  Assign: 'variables (Assign)',
  Arguments: 'JSONata Arguments',
  Output: 'JSONata Output',
  Items: 'JSONata Items',
  ItemBatcher: 'ItemBatcher',
};

/** A deep copy of `definition` that aws-local-stepfunctions runs as AWS would, plus its stand-ins. */
export function localizeDefinition(definition: JsonObject, options: LocalizeOptions = {}): LocalDefinition {
  const copy = structuredClone(definition);
  const standIns: Record<string, StandIn> = {};
  localizeMachine(copy, options, standIns, '(top level)');
  return { definition: copy, standIns };
}

function fail(state: string, problem: string): never {
  throw new UnsupportedStateError(
    `state ${state} ${problem}: the local runner (aws-local-stepfunctions 3) cannot run it as AWS would; ` +
      'see docs/LOCAL.md, or run it with --aws',
  );
}

function localizeMachine(
  machine: JsonObject,
  options: LocalizeOptions,
  standIns: Record<string, StandIn>,
  where: string,
) {
  if (machine.QueryLanguage === 'JSONata') fail(where, 'uses JSONata');
  const states = machine.States;
  if (!isObject(states)) fail(where, 'has no States');
  for (const name of Object.keys(states)) {
    const state = states[name];
    if (!isObject(state)) fail(name, 'is not an object');
    if (state.QueryLanguage === 'JSONata') fail(name, 'uses JSONata');
    for (const field of Object.keys(UNSUPPORTED_FIELDS))
      if (field in state) fail(name, `uses ${UNSUPPORTED_FIELDS[field]}`);
    if (state.Type === 'Task') localizeTask(state, options);
    if (state.Type === 'Parallel' && Array.isArray(state.Branches)) {
      state.Branches.forEach((b, i) => {
        if (!isObject(b)) fail(name, `has a branch ${i} that is not an object`);
        localizeMachine(b, options, standIns, `${name} branch ${i}`);
      });
    }
    if (state.Type === 'Map') localizeMap(machine, states, name, state, options, standIns);
    if (state.Type === 'Fail') localizeFail(machine, states, name, state);
  }
}

/**
 * The library reads a Fail state's ErrorPath/CausePath as a plain path, but AWS also accepts an
 * intrinsic function there (States.Format(...)). A Pass state `<Fail>.Values` computes it first.
 */
function localizeFail(machine: JsonObject, states: JsonObject, name: string, state: JsonObject) {
  const intrinsic = (v: Json | undefined) => typeof v === 'string' && v.startsWith('States.');
  const fields = (['ErrorPath', 'CausePath'] as const).filter((f) => intrinsic(state[f]));
  if (fields.length === 0) return;
  const passName = `${name}${FAIL_VALUES_SUFFIX}`;
  if (passName in states) fail(name, `cannot get its stand-in: ${passName} already exists`);
  const key = `__promvaultFail_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const parameters: JsonObject = {};
  for (const f of fields) {
    parameters[`${f}.$`] = state[f]!;
    state[f] = `$.${key}.${f}`;
  }
  redirect(machine, states, name, passName);
  states[passName] = { Type: 'Pass', Parameters: parameters, ResultPath: `$.${key}`, Next: name };
}

function localizeTask(state: JsonObject, options: LocalizeOptions) {
  if (state.TimeoutSeconds !== undefined || state.TimeoutSecondsPath !== undefined) return;
  const seconds = typeof state.Resource === 'string' ? options.taskTimeoutSeconds?.(state.Resource) : undefined;
  if (seconds !== undefined) state.TimeoutSeconds = seconds;
}

function localizeMap(
  machine: JsonObject,
  states: JsonObject,
  name: string,
  map: JsonObject,
  options: LocalizeOptions,
  standIns: Record<string, StandIn>,
) {
  const processor = map.ItemProcessor ?? map.Iterator;
  if (!isObject(processor)) fail(name, 'has no ItemProcessor');
  localizeMachine(processor, options, standIns, `${name} ItemProcessor`);
  const config = isObject(processor.ProcessorConfig) ? processor.ProcessorConfig : {};
  if (config.Mode === 'DISTRIBUTED') processor.ProcessorConfig = { Mode: 'INLINE' };
  for (const f of [
    'ToleratedFailurePercentage',
    'ToleratedFailurePercentagePath',
    'ToleratedFailureCount',
    'ToleratedFailureCountPath',
    'Label',
  ])
    delete map[f];
  if (map.ResultWriter !== undefined) {
    if (map.ResultPath !== null)
      fail(name, 'writes its results with a ResultWriter and keeps them in the state (ResultPath is not null)');
    delete map.ResultWriter;
  }
  if (map.ItemReader !== undefined) insertItemReader(machine, states, name, map, standIns);
}

/** `$` or `$.a.b` as segments; anything fancier is refused. */
function simplePath(state: string, path: Json | undefined): string[] {
  if (path === undefined || path === '$') return [];
  if (typeof path === 'string' && /^\$(\.[A-Za-z_][A-Za-z0-9_]*)+$/.test(path)) return path.split('.').slice(1);
  return fail(
    state,
    `has InputPath ${JSON.stringify(path)} together with an ItemReader (only $ or $.a.b are supported locally)`,
  );
}

function insertItemReader(
  machine: JsonObject,
  states: JsonObject,
  name: string,
  map: JsonObject,
  standIns: Record<string, StandIn>,
) {
  const reader = map.ItemReader;
  if (!isObject(reader)) return fail(name, 'has an ItemReader that is not an object');
  if (typeof reader.Resource !== 'string' || !/^arn:[a-z-]+:states:::s3:getObject$/.test(reader.Resource))
    fail(
      name,
      `reads items with ${JSON.stringify(reader.Resource)} (only s3:getObject of a JSON array is supported locally)`,
    );
  const rc = isObject(reader.ReaderConfig) ? reader.ReaderConfig : {};
  if (rc.InputType !== 'JSON')
    fail(name, `reads ${JSON.stringify(rc.InputType)} items (only JSON is supported locally)`);
  if (rc.MaxItemsPath !== undefined) fail(name, 'uses ReaderConfig.MaxItemsPath');
  if (map.ItemsPath !== undefined) fail(name, 'has both ItemReader and ItemsPath');
  const readName = `${name}${READ_ITEMS_SUFFIX}`;
  const dropName = `${name}${DROP_ITEMS_SUFFIX}`;
  if (readName in states || dropName in states)
    fail(name, `cannot get its stand-ins: ${readName} or ${dropName} already exists`);

  // Items are loaded next to the Map's effective input (after its InputPath), where ItemsPath finds them.
  const base = simplePath(name, map.InputPath);
  const key = `__promvaultItems_${name.replace(/[^A-Za-z0-9_]/g, '_')}`;
  const field = [...base, key];
  redirect(machine, states, name, readName);
  states[readName] = {
    Type: 'Task',
    Resource: READ_ITEMS_RESOURCE,
    ...(map.InputPath !== undefined ? { InputPath: map.InputPath } : {}),
    ...(reader.Parameters !== undefined ? { Parameters: reader.Parameters } : {}),
    ResultPath: `$.${field.join('.')}`,
    TimeoutSeconds: STAND_IN_TIMEOUT_SECONDS,
    Next: name,
  };
  standIns[readName] = {
    kind: 'readItems',
    map: name,
    ...(typeof rc.MaxItems === 'number' ? { maxItems: rc.MaxItems } : {}),
  };
  delete map.ItemReader;
  map.ItemsPath = `$.${key}`;

  const drop = (stateName: string, next: Json | undefined): JsonObject => {
    standIns[stateName] = { kind: 'dropItems', map: name, field };
    return {
      Type: 'Task',
      Resource: DROP_ITEMS_RESOURCE,
      TimeoutSeconds: STAND_IN_TIMEOUT_SECONDS,
      ...(next === undefined ? { End: true } : { Next: next }),
    };
  };
  states[dropName] = drop(dropName, map.Next);
  delete map.End;
  map.Next = dropName;
  if (Array.isArray(map.Catch)) {
    map.Catch.forEach((c, i) => {
      if (!isObject(c)) return;
      const catchName = `${dropName}.Catch${i}`;
      states[catchName] = drop(catchName, c.Next);
      c.Next = catchName;
    });
  }
}

/** Points every transition to `from` (StartAt, Next, Default, Choices, Catch) at `to`. */
function redirect(machine: JsonObject, states: JsonObject, from: string, to: string) {
  if (machine.StartAt === from) machine.StartAt = to;
  for (const s of Object.values(states)) {
    if (!isObject(s)) continue;
    if (s.Next === from) s.Next = to;
    if (s.Default === from) s.Default = to;
    for (const list of [s.Choices, s.Catch]) {
      if (!Array.isArray(list)) continue;
      for (const rule of list) if (isObject(rule) && rule.Next === from) rule.Next = to;
    }
  }
}

/** What `<Map>.DropItems` does: the input without the loaded items. */
export function dropField(input: Json, field: readonly string[]): Json {
  if (field.length === 0 || !isObject(input)) return input;
  const [head, ...rest] = field as [string, ...string[]];
  if (!(head in input)) return input;
  const out: JsonObject = { ...input };
  if (rest.length === 0) delete out[head];
  else out[head] = dropField(input[head]!, rest);
  return out;
}

/** Every state of a definition with its name, nested Maps and Parallels included. */
export function allStates(machine: JsonObject): [string, JsonObject][] {
  const out: [string, JsonObject][] = [];
  const states = isObject(machine.States) ? machine.States : {};
  for (const [name, s] of Object.entries(states)) {
    if (!isObject(s)) continue;
    out.push([name, s]);
    const processor = s.ItemProcessor ?? s.Iterator;
    if (isObject(processor)) out.push(...allStates(processor));
    if (Array.isArray(s.Branches)) for (const b of s.Branches) if (isObject(b)) out.push(...allStates(b));
  }
  return out;
}
