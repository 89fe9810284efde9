/** Configuration of the O&G lifecycle demo: survey, preparation variants and training runs. */
import * as z from 'zod';
import { ValidationError } from '@provml/schemas';

const preparation = z
  .object({
    /** Short name of the variant, used in file names. */
    name: z.string().regex(/^[a-z0-9-]{1,40}$/),
    /** Inclusive inline range (survey inline numbers) to cut tiles from. */
    inlineStart: z.number().int(),
    inlineEnd: z.number().int(),
    /** Tile edge, in samples and traces. */
    tileSize: z.number().int().min(4).max(64),
    /** Tiles noisier than this are dropped. */
    noiseThreshold: z.number().positive(),
    /** Share of kept tiles that go to the validation set. */
    validationFraction: z.number().min(0.05).max(0.5),
  })
  .strict();

const training = z
  .object({
    name: z.string().regex(/^[a-z0-9-]{1,40}$/),
    /** The preparation variant whose training set it uses. */
    preparation: z.string(),
    learningRate: z.number().positive(),
    epochs: z.number().int().min(1).max(100),
    batchSize: z.number().int().min(1).max(4096),
    hiddenUnits: z.number().int().min(0).max(512),
  })
  .strict();

const schema = z
  .object({
    /** Seed of everything random: survey, splits, weight initialisation, shuffles. */
    seed: z
      .number()
      .int()
      .min(0)
      .max(2 ** 31),
    /** Where the files go (raw SEG-Y, curated copy, tile sets, models). */
    outputDir: z.string().min(1),
    survey: z
      .object({
        name: z.string().default('netherlands-f3'),
        inlines: z.number().int().min(8).max(512),
        crosslines: z.number().int().min(8).max(512),
        samples: z.number().int().min(32).max(2048),
      })
      .strict(),
    /** Domain knowledge entered by the geoscientist about the raw file. */
    annotations: z.object({ basin: z.string(), field: z.string(), notes: z.string() }).strict(),
    preparations: z.array(preparation).min(1),
    trainings: z.array(training).min(1),
  })
  .strict()
  .superRefine((c, ctx) => {
    const names = new Set(c.preparations.map((p) => p.name));
    c.trainings.forEach((t, i) => {
      if (!names.has(t.preparation))
        ctx.addIssue({
          code: 'custom',
          path: ['trainings', i, 'preparation'],
          message: `no preparation named '${t.preparation}'`,
        });
    });
    c.preparations.forEach((p, i) => {
      if (p.inlineEnd < p.inlineStart)
        ctx.addIssue({
          code: 'custom',
          path: ['preparations', i],
          message: 'inlineEnd is before inlineStart',
        });
    });
  });

/** The demo's configuration. */
export type DemoConfig = z.infer<typeof schema>;
/** One preparation variant. */
export type PreparationConfig = z.infer<typeof preparation>;
/** One training run. */
export type TrainingConfig = z.infer<typeof training>;

/** The default demo: two preparation variants (different inline ranges) and two training runs on each. */
export const DEFAULT_DEMO: Omit<DemoConfig, 'outputDir'> = {
  seed: 42,
  survey: { name: 'netherlands-f3', inlines: 64, crosslines: 48, samples: 128 },
  annotations: {
    basin: 'North Sea',
    field: 'F3 Block',
    notes: 'Synthetic stand-in for the F3 survey, Dutch sector of the North Sea; 25 m bins, 4 ms sampling.',
  },
  preparations: [
    {
      name: 'shallow-west',
      inlineStart: 100,
      inlineEnd: 131,
      tileSize: 16,
      noiseThreshold: 0.3,
      validationFraction: 0.2,
    },
    {
      name: 'east',
      inlineStart: 132,
      inlineEnd: 163,
      tileSize: 16,
      noiseThreshold: 0.6,
      validationFraction: 0.2,
    },
  ],
  trainings: [
    {
      name: 'run-a1',
      preparation: 'shallow-west',
      learningRate: 0.05,
      epochs: 4,
      batchSize: 32,
      hiddenUnits: 16,
    },
    {
      name: 'run-a2',
      preparation: 'shallow-west',
      learningRate: 0.2,
      epochs: 3,
      batchSize: 64,
      hiddenUnits: 16,
    },
    { name: 'run-b1', preparation: 'east', learningRate: 0.1, epochs: 4, batchSize: 32, hiddenUnits: 24 },
    { name: 'run-b2', preparation: 'east', learningRate: 0.02, epochs: 3, batchSize: 16, hiddenUnits: 8 },
  ],
};

/** Validates a demo configuration (defaults merged over by `overrides`). */
export function resolveDemoConfig(overrides: Partial<DemoConfig> & { outputDir: string }): DemoConfig {
  const parsed = schema.safeParse({ ...DEFAULT_DEMO, ...overrides });
  if (!parsed.success)
    throw new ValidationError(
      'invalid demo configuration',
      parsed.error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message })),
    );
  return parsed.data;
}
