import { readFileSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import type Handlebars from 'handlebars';
import { SwitchyardError, describeError } from '../errors.js';
import { lazyModule } from '../util/lazy.js';

/** Loaded by the first template compiled (a remote-only HAProxy target renders none). */
const loadHandlebars = lazyModule<typeof Handlebars>('handlebars');

export type CompiledTemplate = (context: object) => string;

/**
 * Compiles a Handlebars template for config files: no HTML escaping (`noEscape`), and `strict` so a
 * missing field is an error rather than an empty string. Errors carry the template name and line.
 * Helpers: `eq`, `join`, `json`. Rendering returns a string and never touches disk.
 */
export function compileTemplate(source: string, name: string): CompiledTemplate {
  const hb = loadHandlebars().create();
  hb.registerHelper('eq', (a: unknown, b: unknown) => a === b);
  hb.registerHelper('join', (list: unknown, sep: unknown) =>
    Array.isArray(list) ? list.join(typeof sep === 'string' ? sep : ',') : '',
  );
  hb.registerHelper('json', (value: unknown) => JSON.stringify(value));
  let template: HandlebarsTemplateDelegate;
  try {
    template = hb.compile(source, { noEscape: true, strict: true, preventIndent: true });
    // Compile eagerly so syntax errors surface at load time, not at the first leader change.
    template({} as object);
  } catch (err) {
    if (isSyntaxError(err)) throw templateError(name, err);
    // A strict-mode miss on the empty context is expected; syntax is fine.
  }
  return (context: object) => {
    try {
      return template(context);
    } catch (err) {
      throw templateError(name, err);
    }
  };
}

/** Reads and compiles a template when first needed (HAProxy renders its file only in local mode). */
export async function loadTemplate(path: string): Promise<CompiledTemplate> {
  const source = await readFile(path, 'utf8').catch((err: unknown) => {
    throw unreadable(path, err);
  });
  return compileTemplate(source, path);
}

function unreadable(path: string, err: unknown): SwitchyardError {
  return new SwitchyardError(
    'SY_ERR_RENDER_TEMPLATE',
    `cannot read template ${path}: ${describeError(err)}`,
    {
      cause: err,
    },
  );
}

function isSyntaxError(err: unknown): boolean {
  return err instanceof Error && /Parse error|Expecting|Unexpected|doesn't match/.test(err.message);
}

/**
 * Handlebars quotes the template in parse errors, but strict-mode misses name the looked-up object
 * ("x" not defined in <value>): that value may be a secret, so it is cut out.
 */
function templateError(name: string, err: unknown): SwitchyardError {
  const message = describeError(err)
    .replace(/ not defined in [\s\S]*? - (\d+:\d+)/, ' not defined - line $1')
    .replace(/(operator to search for '[^']*') in [\s\S]*$/, '$1 in a value that is not an object')
    .split('\n')
    .slice(0, 4)
    .join(' ');
  return new SwitchyardError('SY_ERR_RENDER_TEMPLATE', `template ${name}: ${message}`, { cause: err });
}

export interface LoadedTemplate {
  readonly render: CompiledTemplate;
  readonly path: string;
  /** `%include` lines in the template source: the rendered file may have that many, no more. */
  readonly includeCount: number;
}

/** Reads and compiles a template synchronously (targets are created at config load, before any I/O loop). */
export function loadTemplateSync(path: string): LoadedTemplate {
  let source: string;
  try {
    source = readFileSync(path, 'utf8');
  } catch (err) {
    throw unreadable(path, err);
  }
  return {
    render: compileTemplate(source, path),
    path,
    includeCount: source.split('\n').filter((l) => /^\s*%include[ \t]/.test(l)).length,
  };
}
