// src/shared/section-clock.ts: one clock reading per open section, fresh readings outside one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { performance } from 'node:perf_hooks';
import { closeSection, openSection, sectionNow } from '../../src/shared/section-clock';

/** Spins until performance.now() has moved on by `ms`. */
function spin(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

test('outside a section every call reads the clock', () => {
  const a = sectionNow();
  spin(2);
  const b = sectionNow();
  assert.ok(b - a >= 2, `${b} - ${a}`);
});

test('inside a section every call returns the first reading', () => {
  openSection();
  try {
    const a = sectionNow();
    spin(2);
    assert.equal(sectionNow(), a);
    spin(1);
    assert.equal(sectionNow(), a);
  } finally {
    closeSection();
  }
});

test('the next section reads afresh; after closing, calls are fresh again', () => {
  openSection();
  const a = sectionNow();
  closeSection();
  spin(2);
  openSection();
  const b = sectionNow();
  closeSection();
  assert.ok(b - a >= 2);
  spin(2);
  assert.ok(sectionNow() - b >= 2, 'closed: not the cached reading');
});

test('a nested section takes a fresh reading and leaves the outer one reading afresh', () => {
  openSection();
  try {
    const outer = sectionNow();
    spin(2);
    openSection();
    const inner = sectionNow();
    closeSection();
    assert.ok(inner - outer >= 2);
    spin(2);
    // The inner close ended sharing: never a reading older than the inner one.
    assert.ok(sectionNow() - inner >= 2);
  } finally {
    closeSection();
  }
});
