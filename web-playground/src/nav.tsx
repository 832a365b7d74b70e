// The bar above both pages: what this is, and a link to the other page.

const pages = [
  { id: 'ide', href: '/', label: 'GraphQL IDE' },
  { id: 'live', href: '/live', label: 'Live view' },
] as const;

export function Nav({ current }: { current: (typeof pages)[number]['id'] }) {
  return (
    <header className="nav">
      <span className="brand">Coves AppView</span>
      <nav>
        {pages.map((page) => (
          <a key={page.id} href={page.href} aria-current={page.id === current ? 'page' : undefined}>
            {page.label}
          </a>
        ))}
      </nav>
      <a className="end" href="/licenses.md" title="The licences of the packages bundled in these pages">
        licences
      </a>
    </header>
  );
}
