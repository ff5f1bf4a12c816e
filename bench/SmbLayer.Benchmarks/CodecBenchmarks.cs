using BenchmarkDotNet.Attributes;
using SmbLayer.Protocol;

namespace SmbLayer.Benchmarks;

/// <summary>The header and the message codecs on the hot path of bulk I/O (span based: expect 0 bytes allocated).</summary>
[MemoryDiagnoser]
public class CodecBenchmarks
{
    private readonly byte[] _message = new byte[Smb2Header.Size + 1024];
    private readonly byte[] _readResponse = new byte[Smb2Header.Size + 16 + 65536];
    private readonly ReadRequest _read = new(new Smb2FileId(1, 2), 1 << 20, 1 << 20);
    private readonly WriteRequest _writeRequest = new(new Smb2FileId(1, 2), 1 << 20, new byte[65536]);
    private Smb2Header _header;

    [GlobalSetup]
    public void Setup()
    {
        _header = new Smb2Header { Command = Smb2Command.Read, CreditCharge = 16, Credits = 64, MessageId = 12345, TreeId = 7, SessionId = 0x1234 };
        _header.WriteTo(_message);
        var response = new Smb2Header { Command = Smb2Command.Read, Flags = Smb2HeaderFlags.ServerToRedir, MessageId = 12345 };
        response.WriteTo(_readResponse);
        var body = _readResponse.AsSpan(Smb2Header.Size);
        body[0] = 17; // StructureSize
        body[2] = 0x50; // DataOffset
        System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(body[4..], 65536);
    }

    [Benchmark]
    public void HeaderWrite() => _header.WriteTo(_message);

    [Benchmark]
    public ulong HeaderRead() => Smb2Header.ReadFrom(_message).MessageId;

    [Benchmark]
    public void ReadRequestWrite() => _read.WriteBody(_message.AsSpan(Smb2Header.Size, _read.BodySize));

    [Benchmark]
    public int ReadResponseParse() => ReadResponse.Parse(_readResponse).DataLength;

    [Benchmark]
    public void WriteRequestFixedPart() => _writeRequest.WriteFixedPart(_message.AsSpan(Smb2Header.Size));
}
