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
  /** Phrasings of the request; {slot} is replaced by its value. */
  phrasings: string[];
}

const C = {
  id: ['customers', 'id'], name: ['customers', 'name'], city: ['customers', 'city'], joined: ['customers', 'joined'],
} as const satisfies Record<string, Col>;
const P = { id: ['products', 'id'], name: ['products', 'name'], category: ['products', 'category'], price: ['products', 'price'] } as const satisfies Record<string, Col>;
const O = { id: ['orders', 'id'], customer: ['orders', 'customer_id'], date: ['orders', 'order_date'], status: ['orders', 'status'] } as const satisfies Record<string, Col>;

const ordersOfCustomer = [{ table: 'customers' as const, on: [C.id, O.customer] as const }];

export const SKELETONS: readonly Skeleton[] = [
  // ---- filter ----
  {
    id: 'customers-in-city', family: 'filter',
    query: (s) => ({ select: [{ col: C.name }], from: 'customers', where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: ['List the customers who live in {city}.', 'Which customers are based in {city}?', 'Show me every customer from {city}.', 'Names of all customers located in {city}, please.'],
  },
  {
    id: 'products-in-category', family: 'filter',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: ['Show the {category} products and their prices.', 'List name and price of every product in {category}.', 'What do we sell in the {category} category, with prices?', 'Give me the price list for {category}.'],
  },
  {
    id: 'orders-with-status', family: 'filter',
    query: (s) => ({ select: [{ col: O.id }, { col: O.date }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }] }),
    phrasings: ['List the {status} orders with their dates.', 'Which orders are {status}? Show id and date.', 'Show id and order date of all orders with status {status}.', 'Every order currently {status}, with its date.'],
  },
  // ---- count ----
  {
    id: 'count-customers-city', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_customers' }], from: 'customers', where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: ['How many customers live in {city}?', 'Count the customers from {city}.', 'What is the number of customers based in {city}?', 'Number of customers in {city}?'],
  },
  {
    id: 'count-products-category', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_products' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: ['How many products are in the {category} category?', 'Count the {category} products.', 'What is the number of products we sell in {category}?', 'Number of products in {category}?'],
  },
  {
    id: 'count-orders-status', family: 'count',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }] }),
    phrasings: ['How many orders are {status}?', 'Count the orders with status {status}.', 'What is the number of {status} orders?', 'Number of orders marked {status}?'],
  },
  // ---- sum ----
  {
    id: 'average-price-category', family: 'sum',
    query: (s) => ({ select: [{ agg: 'AVG', col: P.price, as: 'avg_price' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: ['What is the average price of {category} products?', 'Average price in the {category} category?', 'Compute the mean price of the {category} products.', 'How much does a {category} product cost on average?'],
  },
  {
    id: 'total-stock-value', family: 'sum',
    query: (s) => ({ select: [{ agg: 'SUM', col: P.price, as: 'total_price' }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }] }),
    phrasings: ['What do all {category} products cost together?', 'Sum of the prices of the {category} products?', 'Add up the prices of every product in {category}.', 'Total price of the {category} catalogue?'],
  },
  // ---- join ----
  {
    id: 'orders-from-city', family: 'join',
    query: (s) => ({ select: [{ col: O.id }, { col: O.date }], from: 'orders', joins: ordersOfCustomer, where: [{ col: C.city, op: '=', value: s.city }] }),
    phrasings: ['List the orders from customers in {city}, with dates.', 'Which orders came from {city}? Show id and date.', 'Show id and date of every order placed by a {city} customer.', 'Orders shipped to customers living in {city}, with their dates?'],
  },
  // ---- group by ----
  {
    id: 'customers-per-city', family: 'group',
    query: () => ({ select: [{ col: C.city }, { agg: 'COUNT', as: 'n_customers' }], from: 'customers', groupBy: C.city }),
    phrasings: ['How many customers are there in each city?', 'Count customers per city.', 'Give the number of customers for every city.', 'Customer count by city?'],
  },
  {
    id: 'orders-per-status', family: 'group',
    query: () => ({ select: [{ col: O.status }, { agg: 'COUNT', as: 'n_orders' }], from: 'orders', groupBy: O.status }),
    phrasings: ['How many orders are there in each status?', 'Count orders per status.', 'Give the number of orders for every status.', 'Order count by status?'],
  },
  // ---- order / limit ----
  {
    id: 'most-expensive', family: 'order',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', orderBy: { by: P.price, dir: 'DESC' }, limit: s.n }),
    phrasings: ['What are the {n} most expensive products?', 'List the top {n} products by price.', 'Show the {n} priciest products with their prices.', 'Which {n} products cost the most?'],
  },
  {
    id: 'cheapest-in-category', family: 'order',
    query: (s) => ({ select: [{ col: P.name }, { col: P.price }], from: 'products', where: [{ col: P.category, op: '=', value: s.category }], orderBy: { by: P.price, dir: 'ASC' }, limit: s.n }),
    phrasings: ['What are the {n} cheapest {category} products?', 'List the {n} lowest-priced products in {category}.', 'Show the {n} least expensive items of the {category} category.', 'Which {n} {category} products cost the least?'],
  },
  {
    id: 'top-cities', family: 'order',
    query: (s) => ({ select: [{ col: C.city }, { agg: 'COUNT', as: 'n_orders' }], from: 'orders', joins: ordersOfCustomer, groupBy: C.city, orderBy: { by: 'n_orders', dir: 'DESC' }, limit: s.n }),
    phrasings: ['Which {n} cities place the most orders?', 'List the top {n} cities by number of orders.', 'Show the {n} cities with the most orders, with counts.', 'What are the {n} busiest cities by order count?'],
  },
  // ---- date range ----
  {
    id: 'count-orders-year', family: 'date',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.date, fromYear: s.year, toYear: s.year }] }),
    phrasings: ['How many orders were placed in {year}?', 'Count the orders from {year}.', 'What is the number of orders made during {year}?', 'Number of orders in the year {year}?'],
  },
  {
    id: 'customers-joined-year', family: 'date',
    query: (s) => ({ select: [{ col: C.name }], from: 'customers', where: [{ col: C.joined, fromYear: s.year, toYear: s.year }] }),
    phrasings: ['Which customers joined in {year}?', 'List the customers who signed up during {year}.', 'Show every customer that joined in the year {year}.', 'Names of customers registered in {year}?'],
  },
  {
    id: 'status-orders-in-year', family: 'date',
    query: (s) => ({ select: [{ agg: 'COUNT', as: 'n_orders' }], from: 'orders', where: [{ col: O.status, op: '=', value: s.status }, { col: O.date, fromYear: s.year, toYear: s.year }] }),
    phrasings: ['How many {status} orders were placed in {year}?', 'Count the {status} orders from {year}.', 'What is the number of orders of {year} that are {status}?', 'Number of {year} orders marked {status}?'],
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
