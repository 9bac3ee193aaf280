import { startTransition, useEffect, useState, type RefObject } from 'react';

type Callback = (visible: boolean) => void;
const callbacks = new WeakMap<Element, Callback>();
let observer: IntersectionObserver | null = null;

/** One observer for every card (a thousand observers would cost more than they save). */
function shared(): IntersectionObserver | null {
  if (typeof IntersectionObserver === 'undefined') return null;
  observer ??= new IntersectionObserver(
    (entries) => entries.forEach((e) => callbacks.get(e.target)?.(e.isIntersecting)),
    { rootMargin: '200px 0px' },
  );
  return observer;
}

/** True once the element has come near the viewport (it stays true). */
export function useSeen(ref: RefObject<Element | null>, enabled = true): boolean {
  const [seen, setSeen] = useState(() => typeof IntersectionObserver === 'undefined');
  useEffect(() => {
    const el = ref.current;
    if (!enabled || seen || !el) return;
    const io = shared();
    if (!io) return;
    // A transition: the cards that came into view together re-render in slices, not in one task.
    callbacks.set(el, (v) => v && startTransition(() => setSeen(true)));
    io.observe(el);
    return () => {
      io.unobserve(el);
      callbacks.delete(el);
    };
  }, [ref, enabled, seen]);
  return seen;
}
