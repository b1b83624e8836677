// A reader for the WIT text that jco prints for a component (componentWit) and
// for the WIT sources of the corpus, enough to know the type of every exported
// function: worlds, interfaces, type definitions, `use`, functions and
// resources. It does not check a package: jco and wasm-tools already did.

const KEYWORDS_SKIPPED_IN_WORLDS = new Set(['include']);

function tokenize(src) {
  const toks = [];
  let i = 0;
  const n = src.length;
  while (i < n) {
    const c = src[i];
    if (c === ' ' || c === '\t' || c === '\n' || c === '\r') {
      i++;
    } else if (src.startsWith('//', i)) {
      while (i < n && src[i] !== '\n') i++;
    } else if (src.startsWith('/*', i)) {
      const end = src.indexOf('*/', i + 2);
      i = end < 0 ? n : end + 2;
    } else if (src.startsWith('->', i)) {
      toks.push('->');
      i += 2;
    } else if ('{}()<>,;:=./@*'.includes(c)) {
      toks.push(c);
      i++;
    } else if (/[A-Za-z0-9_%-]/.test(c)) {
      let j = i;
      while (j < n && /[A-Za-z0-9_%+.-]/.test(src[j])) {
        // A '.' belongs to a version (0.2.0-rc.1) only right after a digit or a
        // pre-release part; elsewhere it separates `iface.{names}`.
        if (src[j] === '.' && !(/[0-9a-z]/.test(src[j - 1] ?? '') && /[0-9a-z]/.test(src[j + 1] ?? '') && /[0-9]/.test(src.slice(i, j)))) break;
        j++;
      }
      toks.push(src.slice(i, j));
      i = j;
    } else {
      throw new Error(`wit: unexpected character ${JSON.stringify(c)} at offset ${i}`);
    }
  }
  return toks;
}

class Parser {
  constructor(src) {
    this.toks = tokenize(src);
    this.pos = 0;
  }
  peek(k = 0) {
    return this.toks[this.pos + k];
  }
  next() {
    if (this.pos >= this.toks.length) throw new Error('wit: unexpected end of input');
    return this.toks[this.pos++];
  }
  eat(t) {
    if (this.peek() === t) {
      this.pos++;
      return true;
    }
    return false;
  }
  expect(t) {
    const got = this.next();
    if (got !== t) throw new Error(`wit: expected ${JSON.stringify(t)}, got ${JSON.stringify(got)}`);
  }
  ident() {
    let s = this.next();
    if (s.startsWith('%')) s = s.slice(1);
    return s;
  }
  // Skips `@since(...)`, `@unstable(...)`, `@deprecated(...)` gates.
  gates() {
    while (this.peek() === '@') {
      this.next();
      this.next();
      if (this.eat('(')) {
        let depth = 1;
        while (depth > 0) {
          const t = this.next();
          if (t === '(') depth++;
          if (t === ')') depth--;
        }
      }
    }
  }
  // ns:name[@version] as one string.
  packageName() {
    let s = this.ident();
    this.expect(':');
    s += ':' + this.ident();
    // nested namespaces (a:b:c) are not used by the corpus
    if (this.eat('@')) s += '@' + this.version();
    return s;
  }
  version() {
    let v = '';
    // Versions tokenize as one word unless they hold '+build' parts.
    v += this.next();
    return v;
  }
  type() {
    const t = this.ident();
    switch (t) {
      case 'list': {
        this.expect('<');
        const elem = this.type();
        if (this.eat(',')) throw new Error('wit: fixed-length lists are not supported');
        this.expect('>');
        return { kind: 'list', elem };
      }
      case 'option': {
        this.expect('<');
        const inner = this.type();
        this.expect('>');
        return { kind: 'option', inner };
      }
      case 'result': {
        if (!this.eat('<')) return { kind: 'result', ok: null, err: null };
        let ok = null;
        let err = null;
        if (this.eat('_')) {
          this.expect(',');
          err = this.type();
        } else {
          ok = this.type();
          if (this.eat(',')) err = this.type();
        }
        this.expect('>');
        return { kind: 'result', ok, err };
      }
      case 'tuple': {
        this.expect('<');
        const types = [this.type()];
        while (this.eat(',')) {
          if (this.peek() === '>') break;
          types.push(this.type());
        }
        this.expect('>');
        return { kind: 'tuple', types };
      }
      case 'borrow':
      case 'own': {
        this.expect('<');
        const name = this.ident();
        this.expect('>');
        return { kind: t, resource: { kind: 'ref', name } };
      }
      case 'future':
      case 'stream':
        throw new Error(`wit: ${t} types are not supported`);
      case 'bool': case 's8': case 'u8': case 's16': case 'u16': case 's32': case 'u32':
      case 's64': case 'u64': case 'f32': case 'f64': case 'char': case 'string':
        return { kind: t };
      case 'float32':
        return { kind: 'f32' };
      case 'float64':
        return { kind: 'f64' };
      default:
        return { kind: 'ref', name: t };
    }
  }
  func() {
    // after `func`
    this.expect('(');
    const params = [];
    while (!this.eat(')')) {
      const name = this.ident();
      this.expect(':');
      params.push({ name, type: this.type() });
      this.eat(',');
    }
    let result = null;
    if (this.eat('->')) {
      if (this.peek() === '(') throw new Error('wit: named results are not supported');
      result = this.type();
    }
    this.expect(';');
    return { params, result };
  }
  // One `use path.{a, b as c};` inside an interface or world.
  use(scope) {
    let path = this.ident();
    if (this.eat(':')) {
      path += ':' + this.ident();
      this.expect('/');
      path += '/' + this.ident();
      if (this.eat('@')) path += '@' + this.version();
    }
    this.expect('.');
    this.expect('{');
    while (!this.eat('}')) {
      const name = this.ident();
      let as = name;
      if (this.eat('as')) as = this.ident();
      scope.uses.set(as, { from: path, name });
      this.eat(',');
    }
    this.expect(';');
  }
  // A type definition starting at keyword `kw`; returns [name, def].
  typedef(kw) {
    const name = this.ident();
    switch (kw) {
      case 'type': {
        this.expect('=');
        const t = this.type();
        this.expect(';');
        return [name, t];
      }
      case 'record': {
        this.expect('{');
        const fields = [];
        while (!this.eat('}')) {
          this.gates();
          const f = this.ident();
          this.expect(':');
          fields.push({ name: f, type: this.type() });
          this.eat(',');
        }
        return [name, { kind: 'record', fields }];
      }
      case 'variant': {
        this.expect('{');
        const cases = [];
        while (!this.eat('}')) {
          this.gates();
          const c = this.ident();
          let type = null;
          if (this.eat('(')) {
            type = this.type();
            this.expect(')');
          }
          cases.push({ name: c, type });
          this.eat(',');
        }
        return [name, { kind: 'variant', cases }];
      }
      case 'enum':
      case 'flags': {
        this.expect('{');
        const names = [];
        while (!this.eat('}')) {
          this.gates();
          names.push(this.ident());
          this.eat(',');
        }
        return [name, kw === 'enum' ? { kind: 'enum', cases: names } : { kind: 'flags', names }];
      }
      case 'resource': {
        const res = { kind: 'resource', name, constructor: null, methods: new Map(), statics: new Map() };
        if (this.eat(';')) return [name, res];
        this.expect('{');
        while (!this.eat('}')) {
          this.gates();
          const m = this.ident();
          if (m === 'constructor') {
            res.constructor = this.func(); // constructor(params);
            continue;
          }
          this.expect(':');
          let isStatic = false;
          if (this.eat('static')) isStatic = true;
          this.eat('async');
          this.expect('func');
          const f = this.func();
          (isStatic ? res.statics : res.methods).set(m, f);
        }
        return [name, res];
      }
      default:
        throw new Error(`wit: unknown type definition ${kw}`);
    }
  }
  // Body of an interface or world, after '{'. Worlds also hold import/export.
  body(scope, isWorld) {
    while (!this.eat('}')) {
      this.gates();
      const kw = this.next();
      if (kw === 'use') {
        this.use(scope);
      } else if (['type', 'record', 'variant', 'enum', 'flags', 'resource'].includes(kw)) {
        const [name, def] = this.typedef(kw);
        def.scope = scope;
        def.typeName = name;
        scope.types.set(name, def);
      } else if (isWorld && (kw === 'import' || kw === 'export')) {
        this.worldItem(scope, kw);
      } else if (isWorld && KEYWORDS_SKIPPED_IN_WORLDS.has(kw)) {
        while (this.next() !== ';');
      } else {
        // name: func(...)
        const name = kw.startsWith('%') ? kw.slice(1) : kw;
        this.expect(':');
        this.eat('async');
        this.expect('func');
        scope.funcs.set(name, this.func());
      }
    }
  }
  worldItem(world, dir) {
    const target = dir === 'export' ? world.exports : world.imports;
    // export name: func(...);  export name: interface { ... }  export pkg:ns/iface@v;  export iface;
    const first = this.ident();
    if (this.eat(':')) {
      if (this.peek() === 'func' || this.peek() === 'async') {
        this.eat('async');
        this.expect('func');
        target.set(first, { kind: 'func', func: this.func() });
        return;
      }
      if (this.peek() === 'interface') {
        this.next();
        this.expect('{');
        const iface = newScope(world.pkg, first);
        this.body(iface, false);
        target.set(first, { kind: 'interface', iface });
        return;
      }
      // a package path: ns:pkg/iface[@v]
      let path = first + ':' + this.ident();
      this.expect('/');
      path += '/' + this.ident();
      if (this.eat('@')) path += '@' + this.version();
      this.expect(';');
      target.set(path, { kind: 'ref', path });
      return;
    }
    this.expect(';');
    target.set(first, { kind: 'ref', path: first });
  }
  // A whole file: one or more packages, each `package p;` or `package p { ... }`.
  file(pkgs) {
    let current = null;
    while (this.pos < this.toks.length) {
      this.gates();
      const kw = this.next();
      if (kw === 'package') {
        const name = this.packageName();
        const pkg = pkgs.get(name) ?? { name, interfaces: new Map(), worlds: new Map() };
        pkgs.set(name, pkg);
        if (this.eat('{')) {
          this.items(pkg, '}');
        } else {
          this.expect(';');
          current = pkg;
        }
      } else if (kw === 'interface' || kw === 'world') {
        if (!current) throw new Error('wit: an item before the package declaration');
        this.pos--;
        this.item(current);
      } else if (kw === 'use') {
        // top-level `use a:b/c;` aliases: not needed for export types
        while (this.next() !== ';');
      } else {
        throw new Error(`wit: unexpected ${JSON.stringify(kw)}`);
      }
    }
  }
  items(pkg, end) {
    while (!this.eat(end)) {
      this.gates();
      this.item(pkg);
    }
  }
  item(pkg) {
    this.gates();
    const kw = this.next();
    const name = this.ident();
    this.expect('{');
    const scope = newScope(pkg, name);
    if (kw === 'interface') {
      this.body(scope, false);
      pkg.interfaces.set(name, scope);
    } else if (kw === 'world') {
      scope.imports = new Map();
      scope.exports = new Map();
      this.body(scope, true);
      pkg.worlds.set(name, scope);
    } else {
      throw new Error(`wit: unexpected ${JSON.stringify(kw)}`);
    }
  }
}

function newScope(pkg, name) {
  return { pkg, name, types: new Map(), uses: new Map(), funcs: new Map() };
}

/** Parses WIT text into a map of packages (name -> {interfaces, worlds}). */
export function parseWit(src, pkgs = new Map()) {
  new Parser(src).file(pkgs);
  return pkgs;
}

// Splits "ns:pkg/iface@v" into the package name "ns:pkg@v" and "iface".
function splitPath(path) {
  const m = /^([^:/]+:[^/]+)\/([^@]+)(?:@(.+))?$/.exec(path);
  if (!m) return null;
  return { pkg: m[3] ? `${m[1]}@${m[3]}` : m[1], iface: m[2] };
}

/**
 * A view of a component's exports, resolving type references against the
 * packages parsed from the printed WIT and any WIT sources given.
 */
export class Exports {
  constructor(pkgs) {
    this.pkgs = pkgs;
    const roots = [...pkgs.values()].filter((p) => p.name === 'root:component');
    const root = roots[0]?.worlds.get('root') ?? [...pkgs.values()].flatMap((p) => [...p.worlds.values()])[0];
    if (!root) throw new Error('wit: no world found');
    this.world = root;
  }

  interfaceFor(path, from) {
    const sp = splitPath(path);
    if (sp) {
      const pkg = this.pkgs.get(sp.pkg);
      const iface = pkg?.interfaces.get(sp.iface);
      if (!iface) {
        throw new Error(`wit: the definition of interface ${path} is not known: give its WIT source (a <component>.wit file beside the component)`);
      }
      return iface;
    }
    // a plain name: an interface of the same package as `from`
    const iface = from.pkg.interfaces.get(path);
    if (!iface) throw new Error(`wit: interface ${path} not found in package ${from.pkg.name}`);
    return iface;
  }

  /** Finds the definition a type name means in scope: [def, scope of def]. */
  lookup(name, scope) {
    let s = scope;
    for (let hops = 0; hops < 32; hops++) {
      const def = s.types.get(name);
      if (def) return [def, s];
      const u = s.uses.get(name);
      if (!u) break;
      s = this.interfaceFor(u.from, s);
      name = u.name;
    }
    throw new Error(`wit: unknown type ${name} in ${scope.name}`);
  }

  /**
   * Returns t with every reference replaced by what it names (WIT types are
   * not recursive, so this ends). Named definitions keep their `typeName`.
   */
  link(t, scope) {
    switch (t.kind) {
      case 'ref': {
        const [def, s] = this.lookup(t.name, scope);
        if (def.kind === 'resource') return def;
        if (!def.linked) def.linked = this.link(def, s);
        return def.linked;
      }
      case 'list':
        return { kind: 'list', elem: this.link(t.elem, scope) };
      case 'option':
        return { kind: 'option', inner: this.link(t.inner, scope) };
      case 'result':
        return { kind: 'result', ok: t.ok && this.link(t.ok, scope), err: t.err && this.link(t.err, scope) };
      case 'tuple':
        return { kind: 'tuple', types: t.types.map((x) => this.link(x, scope)) };
      case 'record':
        return { kind: 'record', typeName: t.typeName, fields: t.fields.map((f) => ({ name: f.name, type: this.link(f.type, scope) })) };
      case 'variant':
        return { kind: 'variant', typeName: t.typeName, cases: t.cases.map((c) => ({ name: c.name, type: c.type && this.link(c.type, scope) })) };
      case 'own':
      case 'borrow':
        return { kind: t.kind, resource: this.link(t.resource, scope) };
      default:
        return t;
    }
  }

  linkFunc(f, scope) {
    return {
      params: f.params.map((p) => ({ name: p.name, type: this.link(p.type, scope) })),
      result: f.result && this.link(f.result, scope),
    };
  }

  /**
   * Lists the exported functions as tools: [{tool, exportName, funcName, func}],
   * with func's types linked.
   * The tool name follows upstream Wassette: interface export name lower-cased
   * with every character outside [a-z0-9-] turned into '_', then '_', then the
   * function name; a bare function by its name.
   */
  functions() {
    const out = [];
    for (const [name, item] of this.world.exports) {
      if (item.kind === 'func') {
        out.push({ tool: name, exportName: null, funcName: name, func: this.linkFunc(item.func, this.world) });
      } else {
        const iface = item.kind === 'interface' ? item.iface : this.interfaceFor(item.path, this.world);
        const fullName = item.kind === 'ref' && !splitPath(item.path) ? qualify(this.world.pkg.name, item.path) : name;
        const prefix = toolPrefix(fullName);
        for (const [fname, func] of iface.funcs) {
          out.push({ tool: `${prefix}_${fname}`, exportName: fullName, funcName: fname, func: this.linkFunc(func, iface) });
        }
      }
    }
    return out;
  }
}

// A plain interface name exported by a world of package "ns:pkg@v" is
// exported as "ns:pkg/name@v".
function qualify(pkgName, iface) {
  const at = pkgName.indexOf('@');
  return at < 0 ? `${pkgName}/${iface}` : `${pkgName.slice(0, at)}/${iface}${pkgName.slice(at)}`;
}

/** The tool-name prefix of an interface export name. */
export function toolPrefix(exportName) {
  return exportName.toLowerCase().replace(/[^a-z0-9-]/g, '_');
}
