// Helm post-renderer for the real-node tests: puts the chart's operator pods on the
// sandbox's real node (sandbox/real-node.sh), which is tainted so that workload pods stay
// on the KWOK nodes. The chart has no nodeSelector/tolerations values yet; this adds both
// to every Deployment's pod template and changes nothing else.
// Usage (helm runs it): helm install ... --post-renderer <a wrapper that runs this file>.
import { readFileSync } from 'node:fs';
import { parseAllDocuments } from 'yaml';

const REAL_NODE_LABEL = 'tidemark.dev/real-node';

const docs = parseAllDocuments(readFileSync(0, 'utf8'));
const out: string[] = [];
for (const doc of docs) {
  if (doc.contents === null) continue;
  const obj = doc.toJS() as { kind?: string };
  if (obj.kind === 'Deployment') {
    doc.setIn(['spec', 'template', 'spec', 'nodeSelector'], doc.createNode({ [REAL_NODE_LABEL]: 'true' }));
    doc.setIn(
      ['spec', 'template', 'spec', 'tolerations'],
      doc.createNode([{ key: REAL_NODE_LABEL, operator: 'Exists', effect: 'NoSchedule' }]),
    );
  }
  out.push(doc.toString());
}
process.stdout.write(out.join('---\n'));
