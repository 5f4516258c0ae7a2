// Generated SQL for the embedded base model's pretraining, as code in a real corpus would be: query files over six
// invented schemas (school, library, clinic, fleet, music, weather; never the demo's shop), each query under a short
// comment saying what it asks, written in the styles different engineers use. Seeded: the same seed, the same text.

const SCHEMAS = [
  {
    tables: {
      students: { alias: 's', cols: ['id', 'name', 'town', 'grade', 'enrolled'], text: { town: 'towns', name: 'people' }, num: { grade: [1, 12] }, date: 'enrolled' },
      courses: { alias: 'co', cols: ['id', 'title', 'subject', 'credits'], text: { subject: 'subjects' }, num: { credits: [1, 6] } },
      enrolments: { alias: 'e', cols: ['id', 'student_id', 'course_id', 'term', 'mark'], text: { term: 'terms' }, num: { mark: [40, 100] } },
    },
    joins: [['enrolments', 'students', 'student_id'], ['enrolments', 'courses', 'course_id']],
    nouns: { students: 'students', courses: 'courses', enrolments: 'enrolments' },
  },
  {
    tables: {
      books: { alias: 'b', cols: ['id', 'title', 'genre', 'pages', 'published'], text: { genre: 'genres' }, num: { pages: [80, 900] }, date: 'published' },
      members: { alias: 'm', cols: ['id', 'name', 'town', 'joined'], text: { town: 'towns', name: 'people' }, date: 'joined' },
      loans: { alias: 'l', cols: ['id', 'book_id', 'member_id', 'loaned', 'state'], text: { state: 'loanStates' }, date: 'loaned' },
    },
    joins: [['loans', 'books', 'book_id'], ['loans', 'members', 'member_id']],
    nouns: { books: 'books', members: 'members', loans: 'loans' },
  },
  {
    tables: {
      patients: { alias: 'p', cols: ['id', 'name', 'town', 'born'], text: { town: 'towns', name: 'people' }, date: 'born' },
      doctors: { alias: 'd', cols: ['id', 'name', 'speciality', 'fee'], text: { speciality: 'specialities', name: 'people' }, num: { fee: [40, 300] } },
      visits: { alias: 'v', cols: ['id', 'patient_id', 'doctor_id', 'visit_date', 'outcome'], text: { outcome: 'outcomes' }, date: 'visit_date' },
    },
    joins: [['visits', 'patients', 'patient_id'], ['visits', 'doctors', 'doctor_id']],
    nouns: { patients: 'patients', doctors: 'doctors', visits: 'visits' },
  },
  {
    tables: {
      vehicles: { alias: 've', cols: ['id', 'plate', 'kind', 'seats', 'bought'], text: { kind: 'vehicleKinds' }, num: { seats: [2, 60] }, date: 'bought' },
      drivers: { alias: 'dr', cols: ['id', 'name', 'town', 'hired'], text: { town: 'towns', name: 'people' }, date: 'hired' },
      trips: { alias: 't', cols: ['id', 'vehicle_id', 'driver_id', 'trip_date', 'distance'], num: { distance: [5, 900] }, date: 'trip_date' },
    },
    joins: [['trips', 'vehicles', 'vehicle_id'], ['trips', 'drivers', 'driver_id']],
    nouns: { vehicles: 'vehicles', drivers: 'drivers', trips: 'trips' },
  },
  {
    tables: {
      artists: { alias: 'ar', cols: ['id', 'name', 'country', 'formed'], text: { country: 'countries', name: 'people' }, date: 'formed' },
      albums: { alias: 'al', cols: ['id', 'artist_id', 'title', 'style', 'released'], text: { style: 'styles' }, date: 'released' },
      tracks: { alias: 'tr', cols: ['id', 'album_id', 'title', 'seconds'], num: { seconds: [60, 600] } },
    },
    joins: [['albums', 'artists', 'artist_id'], ['tracks', 'albums', 'album_id']],
    nouns: { artists: 'artists', albums: 'albums', tracks: 'tracks' },
  },
  {
    tables: {
      stations: { alias: 'st', cols: ['id', 'name', 'region', 'height'], text: { region: 'regions' }, num: { height: [0, 3000] } },
      readings: { alias: 'r', cols: ['id', 'station_id', 'taken', 'rain', 'wind'], num: { rain: [0, 80], wind: [0, 120] }, date: 'taken' },
    },
    joins: [['readings', 'stations', 'station_id']],
    nouns: { stations: 'stations', readings: 'readings' },
  },
];

const VALUES = {
  towns: ['Leeds', 'Dover', 'Bath', 'York', 'Derby', 'Perth', 'Cork', 'Galway', 'Bergen', 'Utrecht', 'Ghent', 'Turin', 'Porto', 'Malmo', 'Graz', 'Basel'],
  people: ['Ada', 'Bruno', 'Clara', 'Dev', 'Elif', 'Femi', 'Greta', 'Hugo', 'Ines', 'Jonas', 'Kira', 'Luca', 'Mara', 'Nils', 'Olga', 'Pavel'],
  subjects: ['maths', 'history', 'biology', 'music', 'art', 'physics', 'french', 'latin'],
  terms: ['spring', 'summer', 'autumn'],
  genres: ['poetry', 'crime', 'travel', 'science', 'cooking', 'drama', 'history'],
  loanStates: ['open', 'returned', 'late', 'lost'],
  specialities: ['cardiology', 'surgery', 'dermatology', 'paediatrics', 'neurology'],
  outcomes: ['healed', 'referred', 'followup', 'admitted'],
  vehicleKinds: ['bus', 'van', 'truck', 'taxi', 'coach'],
  countries: ['Norway', 'Chile', 'Japan', 'Kenya', 'Peru', 'Spain', 'Canada', 'Ghana'],
  styles: ['jazz', 'folk', 'rock', 'blues', 'soul', 'opera', 'techno'],
  regions: ['north', 'south', 'coast', 'valley', 'highlands', 'islands'],
};

const STYLES = [
  { upper: true, aliases: true, strftime: false },
  { upper: false, aliases: true, strftime: false },
  { upper: true, aliases: false, strftime: true },
  { upper: false, aliases: false, strftime: true },
];

/** A small seeded generator (mulberry32). */
function rngFrom(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return { next, int: (n) => Math.floor(next() * n), pick: (xs) => xs[Math.floor(next() * xs.length)] };
}

function kw(style, word) {
  return style.upper ? word.toUpperCase() : word.toLowerCase();
}

/** One commented query over a schema in a style; returns the comment and the SQL. */
function query(rng, schema, style) {
  const names = Object.keys(schema.tables);
  const table = rng.pick(names);
  const t = schema.tables[table];
  const col = (c) => (style.aliases ? `${t.alias}.${c}` : c);
  const from = style.aliases ? `${table} ${t.alias}` : table;
  const textCols = Object.keys(t.text ?? {});
  const numCols = Object.keys(t.num ?? {});
  const K = (w) => kw(style, w);
  const filter = () => {
    if (textCols.length > 0 && rng.next() < 0.6) {
      const c = rng.pick(textCols);
      const v = rng.pick(VALUES[t.text[c]]);
      return { sql: `${col(c)} = '${v}'`, say: `${c} ${v}` };
    }
    if (numCols.length > 0 && rng.next() < 0.6) {
      const c = rng.pick(numCols);
      const [lo, hi] = t.num[c];
      const v = lo + rng.int(hi - lo);
      const op = rng.pick(['>', '<', '>=']);
      return { sql: `${col(c)} ${op} ${v}`, say: `${c} ${op === '<' ? 'below' : 'above'} ${v}` };
    }
    if (t.date !== undefined) {
      const y = 2015 + rng.int(10);
      const sql = style.strftime ? `strftime('%Y', ${col(t.date)}) = '${y}'` : `${col(t.date)} ${K('between')} '${y}-01-01' ${K('and')} '${y}-12-31'`;
      return { sql, say: `${t.date.replace('_', ' ')} in ${y}` };
    }
    return undefined;
  };
  const kind = rng.int(6);
  const f = filter();
  const where = f === undefined ? '' : ` ${K('where')} ${f.sql}`;
  const about = f === undefined ? '' : ` with ${f.say}`;
  switch (kind) {
    case 0: {
      const cols = t.cols.filter((c) => c !== 'id' && !c.endsWith('_id'));
      const chosen = cols.slice(0, 1 + rng.int(Math.min(3, cols.length)));
      return [`-- ${chosen.join(' and ')} of ${schema.nouns[table]}${about}`, `${K('select')} ${chosen.map(col).join(', ')} ${K('from')} ${from}${where}`];
    }
    case 1:
      return [`-- how many ${schema.nouns[table]}${about}`, `${K('select')} ${K('count')}(*)${rng.next() < 0.5 ? ` ${K('as')} n_${table}` : ''} ${K('from')} ${from}${where}`];
    case 2: {
      if (numCols.length === 0) return [`-- every ${schema.nouns[table]} row`, `${K('select')} * ${K('from')} ${from}`];
      const c = rng.pick(numCols);
      const agg = rng.pick(['sum', 'avg', 'max', 'min']);
      return [`-- ${agg === 'avg' ? 'average' : agg === 'sum' ? 'total' : agg === 'max' ? 'largest' : 'smallest'} ${c} of ${schema.nouns[table]}${about}`, `${K('select')} ${K(agg)}(${col(c)})${rng.next() < 0.5 ? ` ${K('as')} ${agg}_${c}` : ''} ${K('from')} ${from}${where}`];
    }
    case 3: {
      if (textCols.length === 0) return [`-- all ${schema.nouns[table]}`, `${K('select')} * ${K('from')} ${from}`];
      const c = rng.pick(textCols);
      return [`-- number of ${schema.nouns[table]} per ${c}`, `${K('select')} ${col(c)}, ${K('count')}(*)${rng.next() < 0.5 ? ` ${K('as')} n` : ''} ${K('from')} ${from} ${K('group')} ${K('by')} ${col(c)}`];
    }
    case 4: {
      const sortable = numCols.length > 0 ? numCols : t.date !== undefined ? [t.date] : ['id'];
      const c = rng.pick(sortable);
      const n = 2 + rng.int(9);
      const desc = rng.next() < 0.5;
      const shown = t.cols.find((x) => x === 'name' || x === 'title' || x === 'plate') ?? 'id';
      return [`-- the ${n} ${schema.nouns[table]} with the ${desc ? 'highest' : 'lowest'} ${c}${about}`, `${K('select')} ${col(shown)}, ${col(c)} ${K('from')} ${from}${where} ${K('order')} ${K('by')} ${col(c)} ${K(desc ? 'desc' : 'asc')} ${K('limit')} ${n}`];
    }
    default: {
      const j = rng.pick(schema.joins);
      const [child, parent, fk] = j;
      const ct = schema.tables[child];
      const pt = schema.tables[parent];
      const pText = Object.keys(pt.text ?? {});
      if (pText.length === 0) return [`-- all ${schema.nouns[child]}`, `${K('select')} * ${K('from')} ${child}`];
      const c = rng.pick(pText);
      const v = rng.pick(VALUES[pt.text[c]]);
      const ca = style.aliases ? ct.alias : child;
      const pa = style.aliases ? pt.alias : parent;
      const fromJ = style.aliases ? `${child} ${ct.alias} ${K('join')} ${parent} ${pt.alias}` : `${child} ${K('join')} ${parent}`;
      return [`-- ${schema.nouns[child]} of ${schema.nouns[parent]} with ${c} ${v}`, `${K('select')} ${ca}.id ${K('from')} ${fromJ} ${K('on')} ${pa}.id = ${ca}.${fk} ${K('where')} ${pa}.${c} = '${v}'`];
    }
  }
}

/** `documents` query files of 8–24 commented queries each, one schema and one engineer's style per file. */
export function sqlCorpus(seed, documents) {
  const rng = rngFrom(seed);
  const out = [];
  for (let d = 0; d < documents; d++) {
    const schema = rng.pick(SCHEMAS);
    const style = rng.pick(STYLES);
    const lines = [];
    const n = 8 + rng.int(17);
    for (let i = 0; i < n; i++) {
      const [comment, sql] = query(rng, schema, style);
      lines.push(comment, `${sql};`, '');
    }
    out.push(lines.join('\n').trimEnd());
  }
  return out;
}
