// Runs before the first paint (see index.html). Keep in step with src/theme/theme.ts, whose test
// runs this file: the key 'tessera.theme' holds 'light' | 'dark' | 'system' (absent: 'system').
(function () {
  var choice = null;
  try {
    choice = localStorage.getItem('tessera.theme');
  } catch (_) {
    // Storage may be blocked; fall back to the system preference.
  }
  var dark =
    choice === 'dark' ||
    (choice !== 'light' && window.matchMedia('(prefers-color-scheme: dark)').matches);
  document.documentElement.classList.toggle('dark', dark);
  document.documentElement.style.colorScheme = dark ? 'dark' : 'light';
})();
