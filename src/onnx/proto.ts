/**
 * The subset of ONNX's onnx.proto that poi writes (ModelProto, GraphProto, NodeProto, TensorProto,
 * ValueInfoProto/TypeProto, AttributeProto, OperatorSetIdProto), as a protobufjs schema built in code,
 * with typed plain objects to build a model and encode/decode it. Field numbers follow onnx.proto
 * (IR version 7+); fields poi never writes are left out, and protobuf decoders skip unknown fields, so
 * decoding a model written by other tools still works for the fields listed here.
 */
import protobuf from 'protobufjs';

/** TensorProto.DataType values used here. */
export const DataType = { FLOAT: 1, INT32: 6, INT64: 7 } as const;
/** AttributeProto.AttributeType values used here. */
export const AttrType = { FLOAT: 1, INT: 2, STRING: 3, FLOATS: 6, INTS: 7 } as const;

/** IR version 7 (ONNX 1.8) is the oldest that opset 13 may be used with; every current runtime reads it. */
export const IR_VERSION = 7;
export const OPSET_VERSION = 13;

export interface TensorProto {
  name: string;
  dims: number[];
  dataType: number;
  /** Little-endian element bytes (float32 / int64). */
  rawData: Uint8Array;
}

export interface AttributeProto {
  name: string;
  type: number;
  f?: number;
  i?: number;
  s?: Uint8Array;
  floats?: number[];
  ints?: number[];
}

export interface NodeProto {
  input: string[];
  output: string[];
  name: string;
  opType: string;
  domain?: string;
  attribute: AttributeProto[];
}

export interface DimProto {
  dimValue?: number;
  dimParam?: string;
}

export interface ValueInfoProto {
  name: string;
  type: { tensorType: { elemType: number; shape: { dim: DimProto[] } } };
}

export interface GraphProto {
  name: string;
  node: NodeProto[];
  initializer: TensorProto[];
  input: ValueInfoProto[];
  output: ValueInfoProto[];
  docString?: string;
}

export interface OperatorSetIdProto {
  domain: string;
  version: number;
}

export interface ModelProto {
  irVersion: number;
  opsetImport: OperatorSetIdProto[];
  producerName: string;
  producerVersion: string;
  docString?: string;
  graph: GraphProto;
  metadataProps?: Array<{ key: string; value: string }>;
}

const f = (id: number, type: string, rule?: 'repeated') => (rule ? { id, type, rule } : { id, type });

/** protobufjs JSON descriptor of the subset (names as in onnx.proto, camelCased by protobufjs). */
const SCHEMA = {
  nested: {
    onnx: {
      nested: {
        AttributeProto: {
          fields: {
            name: f(1, 'string'),
            docString: f(13, 'string'),
            type: f(20, 'int32'),
            f: f(2, 'float'),
            i: f(3, 'int64'),
            s: f(4, 'bytes'),
            t: f(5, 'TensorProto'),
            floats: f(7, 'float', 'repeated'),
            ints: f(8, 'int64', 'repeated'),
            strings: f(9, 'bytes', 'repeated'),
          },
        },
        ValueInfoProto: {
          fields: { name: f(1, 'string'), type: f(2, 'TypeProto'), docString: f(3, 'string') },
        },
        NodeProto: {
          fields: {
            input: f(1, 'string', 'repeated'),
            output: f(2, 'string', 'repeated'),
            name: f(3, 'string'),
            opType: f(4, 'string'),
            domain: f(7, 'string'),
            attribute: f(5, 'AttributeProto', 'repeated'),
            docString: f(6, 'string'),
          },
        },
        StringStringEntryProto: { fields: { key: f(1, 'string'), value: f(2, 'string') } },
        OperatorSetIdProto: { fields: { domain: f(1, 'string'), version: f(2, 'int64') } },
        ModelProto: {
          fields: {
            irVersion: f(1, 'int64'),
            opsetImport: f(8, 'OperatorSetIdProto', 'repeated'),
            producerName: f(2, 'string'),
            producerVersion: f(3, 'string'),
            domain: f(4, 'string'),
            modelVersion: f(5, 'int64'),
            docString: f(6, 'string'),
            graph: f(7, 'GraphProto'),
            metadataProps: f(14, 'StringStringEntryProto', 'repeated'),
          },
        },
        GraphProto: {
          fields: {
            node: f(1, 'NodeProto', 'repeated'),
            name: f(2, 'string'),
            initializer: f(5, 'TensorProto', 'repeated'),
            docString: f(10, 'string'),
            input: f(11, 'ValueInfoProto', 'repeated'),
            output: f(12, 'ValueInfoProto', 'repeated'),
            valueInfo: f(13, 'ValueInfoProto', 'repeated'),
          },
        },
        TensorProto: {
          fields: {
            dims: f(1, 'int64', 'repeated'),
            dataType: f(2, 'int32'),
            floatData: f(4, 'float', 'repeated'),
            int32Data: f(5, 'int32', 'repeated'),
            int64Data: f(7, 'int64', 'repeated'),
            name: f(8, 'string'),
            docString: f(12, 'string'),
            rawData: f(9, 'bytes'),
          },
        },
        TypeProto: {
          nested: {
            Tensor: { fields: { elemType: f(1, 'int32'), shape: f(2, 'TensorShapeProto') } },
          },
          fields: { tensorType: f(1, 'Tensor'), denotation: f(6, 'string') },
        },
        TensorShapeProto: {
          nested: {
            Dimension: { fields: { dimValue: f(1, 'int64'), dimParam: f(2, 'string'), denotation: f(3, 'string') } },
          },
          fields: { dim: f(1, 'Dimension', 'repeated') },
        },
      },
    },
  },
};

let modelType: protobuf.Type | null = null;
function ModelType(): protobuf.Type {
  modelType ??= protobuf.Root.fromJSON(SCHEMA).lookupType('onnx.ModelProto');
  return modelType;
}

/** Serialise a model to the bytes of an .onnx file. */
export function encodeModel(model: ModelProto): Uint8Array {
  const T = ModelType();
  const err = T.verify(model);
  if (err) throw new Error(`ONNX model does not fit the schema: ${err}`);
  return T.encode(T.fromObject(model)).finish();
}

/**
 * Parse .onnx bytes (the subset above); int64 fields come back as JS numbers, bytes as Uint8Array
 * (protobufjs's default), and every repeated field as an array, empty when absent.
 */
export function decodeModel(bytes: Uint8Array): ModelProto {
  const T = ModelType();
  return T.toObject(T.decode(bytes), { longs: Number, arrays: true }) as ModelProto;
}

// ---- builders --------------------------------------------------------------------------------------

export function floatTensor(name: string, dims: number[], values: Float32Array): TensorProto {
  const n = dims.reduce((a, b) => a * b, 1);
  if (values.length !== n) throw new Error(`tensor ${name}: ${values.length} values for dims [${dims}]`);
  // copy into a fresh little-endian buffer (values may be a view into a larger one)
  const raw = new Uint8Array(n * 4);
  const view = new DataView(raw.buffer);
  for (let i = 0; i < n; i++) view.setFloat32(i * 4, values[i], true);
  return { name, dims, dataType: DataType.FLOAT, rawData: raw };
}

export function int64Tensor(name: string, values: number[]): TensorProto {
  const raw = new Uint8Array(values.length * 8);
  const view = new DataView(raw.buffer);
  values.forEach((v, i) => view.setBigInt64(i * 8, BigInt(v), true));
  return { name, dims: [values.length], dataType: DataType.INT64, rawData: raw };
}

/** Float32 values of a FLOAT tensor stored as raw_data. */
export function tensorFloats(t: TensorProto): Float32Array {
  if (t.dataType !== DataType.FLOAT) throw new Error(`tensor ${t.name}: data type ${t.dataType}, not FLOAT`);
  const raw = t.rawData;
  const out = new Float32Array(raw.length / 4);
  const view = new DataView(raw.buffer, raw.byteOffset, raw.byteLength);
  for (let i = 0; i < out.length; i++) out[i] = view.getFloat32(i * 4, true);
  return out;
}

export const attr = {
  int: (name: string, i: number): AttributeProto => ({ name, type: AttrType.INT, i }),
  ints: (name: string, ints: number[]): AttributeProto => ({ name, type: AttrType.INTS, ints }),
  float: (name: string, f: number): AttributeProto => ({ name, type: AttrType.FLOAT, f }),
};

/** A float tensor value info; a string dim is symbolic (e.g. the batch size). */
export function floatValueInfo(name: string, dims: Array<number | string>): ValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: DataType.FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}
