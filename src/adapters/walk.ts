// Walks a module tree by field, with dotted paths (HF module names) and a handle to replace each child in place.
import { Module } from '../nn/module.ts';

export interface ModuleSlot {
  /** Dotted path from the root ('model.layers.0.self_attn.q_proj'). */
  path: string;
  /** Last path component: the field name, or the index in a module list. */
  name: string;
  module: Module;
  /** Puts another module where this one is. */
  replace(next: Module): void;
}

/** Every module below root (not root itself), parents before children; visit returns false to skip a subtree. */
export function walkModules(root: Module, visit: (slot: ModuleSlot) => boolean | void): void {
  const go = (parent: Module, prefix: string): void => {
    for (const [key, value] of Object.entries(parent)) {
      const path = prefix === '' ? key : `${prefix}.${key}`;
      if (value instanceof Module) {
        const slot: ModuleSlot = { path, name: key, module: value, replace: (next) => ((parent as unknown as Record<string, Module>)[key] = next) };
        if (visit(slot) !== false) go(value, path);
      } else if (Array.isArray(value))
        value.forEach((v, i) => {
          if (!(v instanceof Module)) return;
          const slot: ModuleSlot = { path: `${path}.${i}`, name: String(i), module: v, replace: (next) => (value[i] = next) };
          if (visit(slot) !== false) go(v, `${path}.${i}`);
        });
    }
  };
  go(root, '');
}
