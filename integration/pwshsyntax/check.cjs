// Parses each PowerShell file named on the command line with
// tree-sitter's PowerShell grammar and prints one line per ERROR or
// MISSING node: FILE<TAB>LINE<TAB>COLUMN<TAB>KIND<TAB>TEXT, lines and
// columns from 1. Exits 0 when every file parsed (whatever it found),
// 2 on a usage or load failure.
'use strict';
const fs = require('fs');
const path = require('path');
const { Parser, Language } = require('web-tree-sitter');

async function main(files) {
  await Parser.init();
  const wasm = path.join(path.dirname(require.resolve('tree-sitter-powershell/package.json')), 'tree-sitter-powershell.wasm');
  const lang = await Language.load(wasm);
  const parser = new Parser();
  parser.setLanguage(lang);
  const out = [];
  for (const f of files) {
    const tree = parser.parse(fs.readFileSync(f, 'utf8'));
    const walk = (n) => {
      if (n.isError || n.isMissing) {
        const text = n.isMissing ? n.type : n.text.split('\n')[0].slice(0, 60);
        out.push([f, n.startPosition.row + 1, n.startPosition.column + 1, n.isMissing ? 'MISSING' : 'ERROR', text].join('\t'));
        if (n.isMissing) return;
      }
      if (!n.hasError && !n.isMissing) return;
      for (const c of n.children) walk(c);
    };
    walk(tree.rootNode);
    tree.delete();
  }
  process.stdout.write(out.map((l) => l + '\n').join(''));
}

main(process.argv.slice(2)).catch((e) => {
  process.stderr.write(String(e && e.stack || e) + '\n');
  process.exit(2);
});
