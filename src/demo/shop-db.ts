// The demo's shop: a small SQLite database (customers, products, orders, order_items) with realistic values,
// generated from a seed, so every run and every machine builds the same file.
import { renameSync, rmSync } from 'node:fs';
import Database from 'better-sqlite3';
import { Rng } from '../tensor/random.ts';

export const CITIES = ['London', 'Paris', 'Berlin', 'Madrid', 'Rome', 'Vienna', 'Dublin', 'Lisbon', 'Oslo', 'Prague'];
export const STATUSES = ['pending', 'shipped', 'delivered', 'cancelled'];
export const YEARS = [2021, 2022, 2023, 2024];

const FIRST = ['Anna', 'Ben', 'Clara', 'David', 'Emma', 'Felix', 'Grace', 'Hugo', 'Ida', 'Jonas', 'Kate', 'Leo', 'Mia', 'Noah', 'Olga', 'Paul', 'Rosa', 'Sam', 'Tara', 'Victor'];
const LAST = ['Berg', 'Costa', 'Fischer', 'Garcia', 'Hansen', 'Jones', 'Klein', 'Moreau', 'Novak', 'Rossi', 'Silva', 'Weber'];

/** Products by category, each with a typical price. */
const CATALOGUE: Record<string, [string, number][]> = {
  Books: [['Garden Atlas', 24], ['Cookbook Classics', 31], ['Night Train Novel', 14], ['Travel Guide Spain', 19], ['Poetry Collection', 12], ['History of Rome', 38]],
  Kitchen: [['Chef Knife', 59], ['Cast Iron Pan', 45], ['Coffee Grinder', 79], ['Tea Kettle', 33], ['Salad Bowl', 18], ['Bread Board', 22]],
  Garden: [['Watering Can', 16], ['Pruning Shears', 27], ['Seed Starter Kit', 11], ['Garden Hose', 42], ['Flower Pot', 9], ['Compost Bin', 65]],
  Toys: [['Wooden Train', 34], ['Puzzle Box', 15], ['Kite', 21], ['Building Blocks', 48], ['Rubber Duck', 6], ['Board Game', 29]],
  Office: [['Desk Lamp', 39], ['Notebook Pack', 8], ['Fountain Pen', 55], ['Paper Tray', 13], ['Office Chair', 149], ['Stapler', 17]],
  Sports: [['Yoga Mat', 26], ['Tennis Racket', 89], ['Water Bottle', 12], ['Running Shoes', 110], ['Jump Rope', 7], ['Bike Helmet', 64]],
};
export const CATEGORIES = Object.keys(CATALOGUE);

/** What the request generator may mention: values that exist in the database. */
export interface ShopValues {
  cities: string[];
  categories: string[];
  statuses: string[];
  years: number[];
}

const SCHEMA = `
CREATE TABLE customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, city TEXT NOT NULL, joined TEXT NOT NULL);
CREATE TABLE products (id INTEGER PRIMARY KEY, name TEXT NOT NULL, category TEXT NOT NULL, price REAL NOT NULL);
CREATE TABLE orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL REFERENCES customers(id), order_date TEXT NOT NULL, status TEXT NOT NULL);
CREATE TABLE order_items (order_id INTEGER NOT NULL REFERENCES orders(id), product_id INTEGER NOT NULL REFERENCES products(id), quantity INTEGER NOT NULL);
`;

function isoDate(year: number, dayOfYear: number): string {
  return new Date(Date.UTC(year, 0, 1 + dayOfYear)).toISOString().slice(0, 10);
}

/** Writes the shop database to path (through a temporary file); the same seed gives the same rows. */
export function buildShopDatabase(path: string, seed: number): ShopValues {
  const rng = new Rng(seed);
  const pick = <T>(xs: readonly T[]): T => xs[rng.int(xs.length)]!;
  const tmp = `${path}.tmp-${process.pid}`;
  rmSync(tmp, { force: true });
  const db = new Database(tmp);
  try {
    db.exec(SCHEMA);
    // Customers: distinct names, distinct join dates (so "newest customers" has one right order).
    const names = FIRST.flatMap((f) => LAST.map((l) => `${f} ${l}`));
    const customers: { name: string; city: string; joined: string }[] = [];
    const usedDays = new Set<string>();
    for (let i = 0; i < 120; i++) {
      const name = names.splice(rng.int(names.length), 1)[0]!;
      let joined: string;
      do joined = isoDate(pick(YEARS), rng.int(365));
      while (usedDays.has(joined));
      usedDays.add(joined);
      customers.push({ name, city: CITIES[i % CITIES.length]!, joined });
    }
    const insCustomer = db.prepare('INSERT INTO customers (id, name, city, joined) VALUES (?, ?, ?, ?)');
    customers.forEach((c, i) => insCustomer.run(i + 1, c.name, c.city, c.joined));
    const insProduct = db.prepare('INSERT INTO products (id, name, category, price) VALUES (?, ?, ?, ?)');
    const products = Object.entries(CATALOGUE).flatMap(([category, items]) => items.map(([name, price]) => ({ name, category, price: price - 0.01 })));
    products.forEach((p, i) => insProduct.run(i + 1, p.name, p.category, p.price));
    const insOrder = db.prepare('INSERT INTO orders (id, customer_id, order_date, status) VALUES (?, ?, ?, ?)');
    const insItem = db.prepare('INSERT INTO order_items (order_id, product_id, quantity) VALUES (?, ?, ?)');
    db.transaction(() => {
      for (let id = 1; id <= 600; id++) {
        insOrder.run(id, 1 + rng.int(customers.length), isoDate(pick(YEARS), rng.int(365)), pick(STATUSES));
        const lines = 1 + rng.int(3);
        const chosen = new Set<number>();
        while (chosen.size < lines) chosen.add(1 + rng.int(products.length));
        for (const pid of chosen) insItem.run(id, pid, 1 + rng.int(4));
      }
    })();
    db.close();
    renameSync(tmp, path);
    return { cities: CITIES, categories: CATEGORIES, statuses: STATUSES, years: YEARS };
  } catch (e) {
    if (db.open) db.close();
    rmSync(tmp, { force: true });
    throw e;
  }
}
