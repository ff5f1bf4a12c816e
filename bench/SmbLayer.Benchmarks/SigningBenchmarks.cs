using BenchmarkDotNet.Attributes;
using SmbLayer.Security;

namespace SmbLayer.Benchmarks;

/// <summary>Signing one message with each SMB2 signer (the per-request cost on a signed session).</summary>
[MemoryDiagnoser]
public class SigningBenchmarks
{
    private byte[] _message = [];
    private Smb2Signer _signer = null!;

    [Params("HmacSha256", "AesCmac", "AesGmac")]
    public string Algorithm { get; set; } = "";

    [Params(128, 1024 * 1024)]
    public int MessageSize { get; set; }

    [GlobalSetup]
    public void Setup()
    {
        _message = new byte[MessageSize];
        new Random(1).NextBytes(_message);
        new Protocol.Smb2Header { Command = Protocol.Smb2Command.Read, MessageId = 42 }.WriteTo(_message);
        _signer = Smb2Signer.Create(Enum.Parse<SigningAlgorithm>(Algorithm), new byte[16]);
    }

    [GlobalCleanup]
    public void Cleanup() => _signer.Dispose();

    [Benchmark]
    public void Sign() => _signer.Sign(_message);
}
