// Quickstart: capture a small training run with the TypeScript library, in the embedded stack.
import { EmbeddedStack, resolveEmbeddedConfig } from '@provml/app';

const stack = new EmbeddedStack(resolveEmbeddedConfig({ queryPort: 0, ingestPort: 0 }));
await stack.start();

// init once with the prospective spec (a file or an object)
const capture = await stack.capture({
  spec: new URL('../../schemas/examples/seismic-training.json', import.meta.url).pathname,
});
const run = capture.workflowExecution();
const training = run.begin('training', {
  values: { learning_rate: 0.001, epochs: 2, batch_size: 16 },
  dataRefs: { training_set: 'file:///data/tiles/train.npz' },
});
for (let e = 0; e < 2; e++) {
  // the scoped helper ends the task as failed if the callback throws
  await training.run('epoch', {}, (epoch) => {
    for (let b = 0; b < 35; b++) epoch.begin('batch').end({ values: { batch_loss: 1 / (b + 1) } });
    epoch
      .set('epoch', e)
      .set('loss', 0.5 / (e + 1))
      .set('accuracy', 0.7 + e / 10);
    epoch.addDataRef('model', `file:///models/${run.id}/epoch-${e}.pt`);
  });
}
training.end({ values: { final_loss: 0.25 } });

await stack.settle(); // everything captured so far is now queryable
const response = await fetch(`${stack.queryUrl}/sparql`, {
  method: 'POST',
  headers: { 'content-type': 'application/sparql-query' },
  // each model file is written by one epoch: that write (a version of the file) derives from the data
  body: `PREFIX prov: <http://www.w3.org/ns/prov#>
         SELECT ?model ?dataset WHERE {
           ?version prov:specializationOf ?model ; prov:wasDerivedFrom ?dataset
         } ORDER BY ?model`,
});
console.log(await response.text());
await stack.shutdown();
