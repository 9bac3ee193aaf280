import { render, screen } from '@testing-library/react';
import { describe, expect, it } from 'vitest';

import { Markdown, renderMarkdownHtml } from './Markdown';

describe('Markdown', () => {
  it('never lets model output run scripts or load pictures', () => {
    const html = renderMarkdownHtml('Hi <script>alert(1)</script><img src=x onerror=alert(2)> <a href="javascript:alert(3)">x</a> <b onclick="alert(4)">b</b>');
    expect(html).not.toMatch(/script|onerror|onclick|javascript:|<img/i);
    expect(html).toContain('<b>b</b>');
  });

  it('renders formatting, links that open safely, and code blocks with a copy button', () => {
    const { container } = render(<Markdown text={'# Plan\n\n- **water** the [roses](https://example.org)\n\n```python\nprint("hi")\n```\n'} />);
    expect(screen.getByRole('heading', { name: 'Plan' })).toBeInTheDocument();
    expect(container.querySelector('strong')).toHaveTextContent('water');
    const link = screen.getByRole('link', { name: 'roses' });
    expect(link).toHaveAttribute('target', '_blank');
    expect(link.getAttribute('rel')).toContain('noopener');
    expect(container.querySelector('pre code')).toHaveTextContent('print("hi")');
    expect(screen.getByText('python')).toBeInTheDocument();
    expect(screen.getByRole('button', { name: 'Copy code' })).toBeInTheDocument();
  });
});
