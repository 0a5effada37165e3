// PostGraphile 5 declares Node >= 22; this machine has Node 20. The only Node 22 feature its
// runtime uses is Promise.withResolvers (ES2024), so supply it when it is missing.
if (typeof Promise.withResolvers !== "function") {
  Promise.withResolvers = function withResolvers() {
    let resolve;
    let reject;
    const promise = new this((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}
