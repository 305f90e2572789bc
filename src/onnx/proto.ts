/**
 * The subset of ONNX's onnx.proto that poi writes (ModelProto, GraphProto, NodeProto, TensorProto,
 * ValueInfoProto/TypeProto, AttributeProto, OperatorSetIdProto), as a protobufjs schema built in code,
 * with typed plain objects to build a model and encode/decode it. Field numbers follow onnx.proto
 * (IR version 7+); fields poi never writes are left out, and protobuf decoders skip unknown fields, so
 * decoding a model written by other tools still works for the fields listed here.
 */
import protobuf from 'protobufjs';
import type { ModelProto } from './graph.js';

export * from './graph.js';

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

