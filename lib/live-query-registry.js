'use strict';

const { codes, typeError, describe } = require('./errors');

/**
 * The live queries a server serves: every `queries` entry of the app's modules, named
 * `<module.name>.<key>` as Modelence names them. An entry is a handler `(args, context)` or
 * `{ handler, permissions }`; a handler returns (or resolves to) a `LiveData` (`fetch`, `watch`).
 */
class LiveQueryRegistry {
  #queries = new Map();
  #mutations = new Set();
  #modules = 0;
  #roles;
  /** Where the modules are passed, for the messages that say so. */
  #modulesOption;

  /**
   * `modules`: Modelence (or this package's) modules; `roles`: the role definitions given to
   * Modelence's `startApp({ roles })`, whose `permissions` a query's `permissions` are checked
   * against. Throws a TypeError naming the query for a malformed entry or a duplicate name.
   */
  constructor(modules = [], roles = {}, where = 'startWebsocketServer()') {
    this.#roles = roles ?? {};
    this.#modulesOption = where.startsWith('createWebsocketProvider')
      ? 'createWebsocketProvider({ modules }) (the same array as startApp({ modules }))'
      : 'startWebsocketServer({ modules })';
    for (const module of modules) {
      const queries = module.queries ?? {};
      const entries = Object.entries(queries);
      if (entries.length > 0) this.#modules += 1;
      for (const [key, definition] of entries) this.#add(`${module.name}.${key}`, definition, where);
      for (const key of Object.keys(module.mutations ?? {})) this.#mutations.add(`${module.name}.${key}`);
    }
  }

  #add(name, definition, where) {
    const handler = typeof definition === 'function' ? definition : definition?.handler;
    if (typeof handler !== 'function') {
      throw typeError(
        codes.INVALID_OPTION,
        `${where}: query ${JSON.stringify(name)} must be a function or { handler, permissions }, got ${describe(definition)}`,
      );
    }
    const permissions = (typeof definition === 'function' ? undefined : definition.permissions) ?? [];
    if (!Array.isArray(permissions) || !permissions.every((p) => typeof p === 'string')) {
      throw typeError(
        codes.INVALID_OPTION,
        `${where}: query ${JSON.stringify(name)} has permissions ${describe(permissions)}; expected an array of strings`,
      );
    }
    if (this.#queries.has(name)) {
      throw typeError(
        codes.INVALID_OPTION,
        `${where}: query ${JSON.stringify(name)} is defined twice; module names must differ`,
      );
    }
    this.#queries.set(name, { handler, permissions: [...permissions] });
  }

  /** How many live queries are served. */
  get size() {
    return this.#queries.size;
  }

  /** How many modules define at least one query. */
  get moduleCount() {
    return this.#modules;
  }

  /**
   * Runs query `name` with `args` and the method `context`, after checking its permissions
   * against `context.roles`; resolves to its `LiveData`. Rejects with a message for the client
   * when the query is unknown, not allowed, or does not return a `LiveData`.
   * @example
   * const liveData = await registry.run('todo.getAll', {}, context);
   */
  async run(name, args, context) {
    const query = this.#queries.get(name);
    if (!query) throw new Error(this.#unknown(name));
    const missing = query.permissions.find((permission) => !this.#granted(context.roles, permission));
    if (missing !== undefined) {
      throw new Error(
        `Access denied: live query '${name}' needs permission '${missing}', which none of your roles grant`,
      );
    }
    const { handler } = query;
    const liveData = await handler(args, context);
    if (
      liveData === null ||
      typeof liveData !== 'object' ||
      typeof liveData.fetch !== 'function' ||
      typeof liveData.watch !== 'function'
    ) {
      throw new Error(
        `Live query '${name}' must return a LiveData ({ fetch, watch }: new LiveData({ fetch, watch }) from ` +
          `'modelence/server'), got ${describe(liveData)}`,
      );
    }
    return liveData;
  }

  #granted(roles, permission) {
    return roles.some((role) => {
      const definition = Object.hasOwn(this.#roles, role) ? this.#roles[role] : undefined;
      return Array.isArray(definition?.permissions) && definition.permissions.includes(permission);
    });
  }

  #unknown(name) {
    if (this.#mutations.has(name)) return `'${name}' is a mutation: only queries can be subscribed to as live queries`;
    if (this.#queries.size === 0) {
      return `This server serves no live queries, so '${name}' is unavailable: pass your app's modules to ${this.#modulesOption}`;
    }
    return `No live query named '${name}' on this server: add the module that defines it to ${this.#modulesOption}, and check the name`;
  }
}

module.exports = { LiveQueryRegistry };
