// The demo's request templates: query skeletons in families (filter, count, sum, join, group by, order/limit, date
// range), each with several phrasings; a request names the values (city, category, year…) its SQL must copy.
import type { Col, Query } from './sql-style.ts';

export interface Slots {
  city: string;
  category: string;
  status: string;
  year: number;
  n: number;
}

export interface Skeleton {
  id: string;
  family: 'filter' | 'count' | 'sum' | 'join' | 'group' | 'order' | 'date';
  query: (s: Slots) => Query;
  /** Phrasings of the request (combinations of shared pieces); {slot} is replaced by its value. */
  phrasings: string[];
}

const C = {
  id: ['customers', 'id'], name: ['customers', 'name'], city: ['customers', 'city'], joined: ['customers', 'joined'],
} as const satisfies Record<string, Col>;
const P = { id: ['products', 'id'], name: ['products', 'name'], category: ['products', 'category'], price: ['products', 'price'] } as const satisfies Record<string, Col>;
const O = { id: ['orders', 'id'], customer: ['orders', 'customer_id'], date: ['orders', 'order_date'], status: ['orders', 'status'] } as const satisfies Record<string, Col>;

const ordersOfCustomer = [{ table: 'customers' as const, on: [C.id, O.customer] as const }];

/**
 * Every phrasing made of one choice per part, joined by spaces: the phrasings of a skeleton share their pieces, so a
 * held-out combination is worded in a way training never showed while its words still mean what they meant there.
 */
function phrased(...parts: string[][]): string[] {
  return parts.reduce<string[]>((acc, options) => acc.flatMap((a) => options.map((o) => (a === '' ? o : `${a} ${o}`))), ['']);
}

export const SKELETONS: readonly Skeleton[] = [
  // ---- filter ----
  {
    id: 'customers-in-city', family: 'filter',
    query: (s) => ({ select: [{ col: C.name }], from: 'customers', where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: phrased(['List', 'Show me', 'Give me', 'I need'], ['the customers', 'every customer', 'the names of the customers', 'all our customers'], ['who live in {city}.', 'based in {city}.', 'from {city}.', 'located in {city}.']),
  },
  {
    id: 'products-in-category', family: 'filter',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: phrased(['List', 'Show me', 'Give me', 'I need'], ['the {category} products', 'every product in {category}', 'the products of the {category} category', 'what we sell in {category}'], ['with their prices.', 'and their prices.', 'with the price of each.']),
  },
  {
    id: 'orders-with-status', family: 'filter',
    query: (s) => ({ select: [{ col: O.id }, { col: O.date }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }] }),
    phrasings: phrased(['List', 'Show me', 'Give me', 'I need'], ['the {status} orders', 'every order that is {status}', 'all orders with status {status}', 'the orders marked {status}'], ['with their dates.', 'and when they were placed.', 'with id and date.']),
  },
  // ---- count ----
  {
    id: 'count-customers-city', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_customers' }], from: 'customers', where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: phrased(['How many', 'Tell me how many', 'Do you know how many', 'Find out how many'], ['customers', 'clients', 'people on our customer list'], ['live in {city}?', 'are based in {city}?', 'come from {city}?', 'are located in {city}?']),
  },
  {
    id: 'count-products-category', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_products' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: phrased(['How many', 'Tell me how many', 'Do you know how many', 'Find out how many'], ['products', 'items', 'articles'], ['are in the {category} category?', 'do we sell in {category}?', 'belong to {category}?', 'are listed under {category}?']),
  },
  {
    id: 'count-orders-status', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }] }),
    phrasings: phrased(['How many', 'Tell me how many', 'Do you know how many', 'Find out how many'], ['orders', 'purchases'], ['are {status}?', 'have status {status}?', 'are marked {status}?', 'are currently {status}?']),
  },
  // ---- sum ----
  {
    id: 'average-price-category', family: 'sum',
    query: (s) => ({ select: [{ agg: 'AVG', col: P.price, as: 'avg_price' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: phrased(['What is', 'Tell me', 'Compute', 'Give me'], ['the average price', 'the mean price', 'the typical price on average'], ['of the {category} products?', 'in the {category} category?', 'of an item in {category}?']),
  },
  {
    id: 'total-stock-value', family: 'sum',
    query: (s) => ({ select: [{ agg: 'SUM', col: P.price, as: 'total_price' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: phrased(['What is', 'Tell me', 'Compute', 'Give me'], ['the total of the prices', 'the sum of the prices', 'the prices added up'], ['of the {category} products?', 'in the {category} category?', 'of every item in {category}?']),
  },
  // ---- join ----
  {
    id: 'orders-from-city', family: 'join',
    query: (s) => ({ select: [{ col: O.id }, { col: O.date }], from: 'orders', joins: ordersOfCustomer, where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: phrased(['List', 'Show me', 'Give me', 'I need'], ['the orders', 'every order', 'all purchases'], ['placed by customers in {city}', 'from customers living in {city}', 'that came from {city}', 'of our {city} customers'], ['with their dates.', 'with id and date.']),
  },
  // ---- group by ----
  {
    id: 'customers-per-city', family: 'group',
    query: () => ({ select: [{ col: C.city }, { agg: 'COUNT', as: 'n_customers' }], from: 'customers', groupBy: C.city }),
    phrasings: phrased(['Count the', 'Give the number of', 'Show the number of', 'Tally the'], ['customers', 'clients'], ['in each city.', 'per city.', 'for every city.', 'city by city.']),
  },
  {
    id: 'orders-per-status', family: 'group',
    query: () => ({ select: [{ col: O.status }, { agg: 'COUNT', as: 'n_orders' }], from: 'orders', groupBy: O.status }),
    phrasings: phrased(['Count the', 'Give the number of', 'Show the number of', 'Tally the'], ['orders', 'purchases'], ['in each status.', 'per status.', 'for every status.', 'status by status.']),
  },
  // ---- order / limit ----
  {
    id: 'most-expensive', family: 'order',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', orderBy: { by: P.price, dir: 'DESC' }, limit: s.n }),
    phrasings: phrased(['What are', 'List', 'Show me', 'Give me'], ['the {n} most expensive', 'the {n} priciest', 'the top {n} highest-priced'], ['products?', 'items we sell?', 'products with their prices?']),
  },
  {
    id: 'cheapest-in-category', family: 'order',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }], orderBy: { by: P.price, dir: 'ASC' }, limit: s.n }),
    phrasings: phrased(['What are', 'List', 'Show me', 'Give me'], ['the {n} cheapest', 'the {n} least expensive', 'the {n} lowest-priced'], ['{category} products?', 'products in {category}?', 'items of the {category} category?']),
  },
  {
    id: 'top-cities', family: 'order',
    query: (s) => ({ select: [{ col: C.city }, { agg: 'COUNT', as: 'n_orders' }], from: 'orders', joins: ordersOfCustomer, groupBy: C.city, orderBy: { by: 'n_orders', dir: 'DESC' }, limit: s.n }),
    phrasings: phrased(['Which are', 'List', 'Show me', 'Give me'], ['the {n} cities', 'the top {n} cities'], ['with the most orders?', 'that place the most orders?', 'by number of orders?', 'with the highest order count?']),
  },
  // ---- date range ----
  {
    id: 'count-orders-year', family: 'date',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.date, fromYear: s.year, toYear: s.year }] }),
    phrasings: phrased(['How many', 'Tell me how many', 'Do you know how many', 'Find out how many'], ['orders', 'purchases'], ['were placed in {year}?', 'were made during {year}?', 'came in {year}?', 'date from {year}?']),
  },
  {
    id: 'customers-joined-year', family: 'date',
    query: (s) => ({ select: [{ col: C.name }], from: 'customers', where: [{ col: C.joined, fromYear: s.year, toYear: s.year }] }),
    phrasings: phrased(['List', 'Show me', 'Give me', 'I need'], ['the customers', 'every customer', 'the names of the customers'], ['who joined in {year}.', 'who signed up during {year}.', 'registered in {year}.', 'that became customers in {year}.']),
  },
  {
    id: 'status-orders-in-year', family: 'date',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }, { col: O.date, fromYear: s.year, toYear: s.year }] }),
    phrasings: phrased(['How many', 'Tell me how many', 'Do you know how many', 'Find out how many'], ['{status} orders', 'orders marked {status}', 'orders with status {status}'], ['were placed in {year}?', 'were made during {year}?', 'came in {year}?', 'date from {year}?']),
  },
];

/** The request text of a phrasing with its slots filled. */
export function fillPhrasing(phrasing: string, s: Slots): string {
  return phrasing.replace(/\{(\w+)\}/g, (_, k: string) => {
    const v = (s as unknown as Record<string, string | number | undefined>)[k];
    if (v === undefined) throw new Error(`phrasing '${phrasing}': no slot ${k}`);
    return String(v);
  });
}
