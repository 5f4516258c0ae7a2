// The studio page: a header with the modes this server runs, and the page of the current #/route.
import { render } from 'preact';
import { useEffect, useState } from 'preact/hooks';
import 'uplot/dist/uPlot.min.css';
import './style.css';
import { api, type Info } from './api.ts';
import { ComparePage } from './compare.tsx';
import { RankPage } from './rank.tsx';
import { OverlayPage, RunPage, RunsList } from './runs.tsx';

function useRoute(): string {
  const [hash, setHash] = useState(location.hash);
  useEffect(() => {
    const on = (): void => setHash(location.hash);
    window.addEventListener('hashchange', on);
    return () => window.removeEventListener('hashchange', on);
  }, []);
  return hash.replace(/^#/, '');
}

function App() {
  const [info, setInfo] = useState<Info | undefined>();
  const [error, setError] = useState('');
  const route = useRoute();
  useEffect(() => void api<Info>('/api/info').then(setInfo, (e: Error) => setError(e.message)), []);
  if (error !== '') return <main><p class="error" role="alert">{error}</p></main>;
  if (info === undefined) return <main><p class="muted">Loading…</p></main>;
  const home = info.rank !== null ? '/rank' : info.compare ? '/compare' : '/runs';
  const path = route === '' || route === '/' ? home : route;
  const links = [info.rank !== null && ['/rank', 'Rank'], info.runs && ['/runs', 'Runs'], info.compare && ['/compare', 'Compare']].filter((l): l is [string, string] => l !== false);
  let page;
  if (path === '/rank' && info.rank !== null) page = <RankPage info={info} />;
  else if (path === '/runs' && info.runs) page = <RunsList />;
  else if (path.startsWith('/run/') && info.runs) page = <RunPage id={decodeURIComponent(path.slice(5))} />;
  else if (path.startsWith('/overlay/') && info.runs) page = <OverlayPage ids={path.slice(9).split(',').map(decodeURIComponent)} />;
  else if (path === '/compare' && info.compare) page = <ComparePage annotator={info.rank?.annotator ?? null} />;
  else page = <p>No such page here. <a href="#/">Home</a></p>;
  return (
    <>
      <header>
        <strong>whet studio</strong>
        <nav aria-label="modes">{links.map(([href, label]) => <a key={href} href={`#${href}`} aria-current={path.startsWith(href) || (href === '/runs' && /^\/(run\/|overlay\/)/.test(path)) ? 'page' : undefined}>{label}</a>)}</nav>
        <span class="muted models">{info.models.join(' · ')}</span>
      </header>
      <main>{page}</main>
    </>
  );
}

render(<App />, document.getElementById('app')!);
