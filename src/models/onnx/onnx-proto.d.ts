/**
 * Types for the parts of onnx-proto (protobufjs static code for onnx.proto, no .d.ts of its own) that
 * uap uses: encoding in onnx/export.ts, decoding in the ONNX loader. Messages are plain objects here;
 * 64-bit integers may come back as protobufjs Long values ({ low, high } with toNumber()).
 */
declare module 'onnx-proto' {
  namespace onnx {
    type Int64 = number | { low: number; high: number; unsigned?: boolean | null; toNumber(): number };

    interface IOperatorSetIdProto {
      domain?: string | null;
      version?: Int64 | null;
    }
    interface ITensorShapeProto {
      dim?: { dimValue?: Int64 | null; dimParam?: string }[] | null;
    }
    interface ITypeProto {
      tensorType?: { elemType?: number | null; shape?: ITensorShapeProto } | null;
    }
    interface IValueInfoProto {
      name?: string | null;
      type?: ITypeProto | null;
      docString?: string | null;
    }
    interface ITensorProto {
      dims?: Int64[] | null;
      dataType?: number | null;
      floatData?: number[] | null;
      int32Data?: number[] | null;
      int64Data?: Int64[] | null;
      doubleData?: number[] | null;
      uint64Data?: Int64[] | null;
      name?: string | null;
      rawData?: Uint8Array | null;
      dataLocation?: number | null;
      externalData?: { key?: string | null; value?: string }[] | null;
    }
    interface IAttributeProto {
      name?: string | null;
      type?: number | null;
      f?: number | null;
      i?: Int64 | null;
      s?: Uint8Array | null;
      t?: ITensorProto | null;
      g?: IGraphProto | null;
      floats?: number[] | null;
      ints?: Int64[] | null;
      strings?: Uint8Array[] | null;
    }
    interface INodeProto {
      input?: string[] | null;
      output?: string[] | null;
      name?: string | null;
      opType?: string | null;
      domain?: string | null;
      attribute?: IAttributeProto[] | null;
      docString?: string | null;
    }
    interface IGraphProto {
      node?: INodeProto[] | null;
      name?: string | null;
      initializer?: ITensorProto[] | null;
      docString?: string | null;
      input?: IValueInfoProto[] | null;
      output?: IValueInfoProto[] | null;
      valueInfo?: IValueInfoProto[] | null;
    }
    interface IModelProto {
      irVersion?: Int64 | null;
      opsetImport?: IOperatorSetIdProto[] | null;
      producerName?: string | null;
      producerVersion?: string | null;
      domain?: string | null;
      modelVersion?: Int64 | null;
      docString?: string | null;
      graph?: IGraphProto | null;
      metadataProps?: { key?: string | null; value?: string }[] | null;
    }
    interface Writer {
      finish(): Uint8Array;
    }
    interface MessageType<T> {
      create(properties?: T): T;
      encode(message: T): Writer;
      decode(bytes: Uint8Array): T;
      verify(message: T): string | null;
    }
    // a decoded message has every field (defaults filled in); these names are both the type and the class
    interface ModelProto extends IModelProto {}
    interface GraphProto extends IGraphProto {}
    interface NodeProto extends INodeProto {}
    interface TensorProto extends ITensorProto {}
    interface AttributeProto extends IAttributeProto {}
    interface ValueInfoProto extends IValueInfoProto {}
    const ModelProto: MessageType<IModelProto>;
    const GraphProto: MessageType<IGraphProto>;
    const NodeProto: MessageType<INodeProto>;
    const TensorProto: MessageType<ITensorProto> & {
      DataType: Record<string, number>;
      DataLocation: { DEFAULT: number; EXTERNAL: number } & Record<string, number>;
    };
    const AttributeProto: MessageType<IAttributeProto> & { AttributeType: Record<string, number> };
  }
  const root: { onnx: typeof onnx };
  export default root;
  export { onnx };
}
